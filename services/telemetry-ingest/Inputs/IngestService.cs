using Microsoft.Extensions.Logging;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Inputs;

/// <summary>One rejected item of a request: its position in the input and why.</summary>
public sealed record IngestRejection(long Index, string Reason);

/// <summary>What an ingestion call did.</summary>
public sealed record IngestReport
{
    public long Received { get; init; }
    public long Stored { get; init; }
    public long Duplicates { get; init; }
    public long Rejected { get; init; }

    /// <summary>The first rejections (at most <see cref="IngestBatch.MaxReportedRejections"/>).</summary>
    public IReadOnlyList<IngestRejection> Rejections { get; init; } = [];
}

/// <summary>Collects parse results of one input batch; <see cref="IngestService.WriteAsync"/> stores it in one transaction.</summary>
public sealed class IngestBatch(string source)
{
    public const int MaxReportedRejections = 100;

    public string Source { get; } = source;
    public List<RouterDecision> Decisions { get; } = [];
    public List<RejectedEvent> Rejected { get; } = [];
    public List<IngestRejection> Rejections { get; } = [];
    public long Received { get; private set; }

    public int Count => Decisions.Count + Rejected.Count;

    public void Add(ParseResult result, long index, Func<string> rawBody)
    {
        Received++;
        if (result.Decision is { } decision)
        {
            Decisions.Add(decision);
        }
        else
        {
            Reject(result.Reason!, index, rawBody());
        }
    }

    public void Reject(string reason, long index, string rawBody, bool countAsReceived = false)
    {
        if (countAsReceived)
        {
            Received++;
        }
        Rejected.Add(new RejectedEvent(Source, reason, rawBody));
        if (Rejections.Count < MaxReportedRejections)
        {
            Rejections.Add(new IngestRejection(index, reason));
        }
    }

    public void Clear()
    {
        Decisions.Clear();
        Rejected.Clear();
    }
}

/// <summary>The write path the HTTP inputs and importers share: one committed transaction per batch, with metrics and logs.</summary>
public sealed class IngestService(DecisionParser parser, IDecisionWriter writer, IngestMetrics metrics, ILogger<IngestService> logger)
{
    public DecisionParser Parser => parser;

    public async Task<WriteResult> WriteAsync(IngestBatch batch, CancellationToken cancellationToken)
    {
        var result = await writer.WriteAsync(batch.Decisions, batch.Rejected, cancellationToken);
        metrics.Record(result, batch.Source);
        if (result.Rejected > 0)
        {
            logger.LogWarning("{Source}: rejected {Rejected} event(s); first reason: {Reason}",
                batch.Source, result.Rejected, batch.Rejected[0].Reason);
        }
        return result;
    }
}
