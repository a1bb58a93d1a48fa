using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Inputs;

/// <summary>One rejected item of a request: its position in the input and why.</summary>
public sealed record IngestRejection(long Index, string Reason);

/// <summary>Which contracts an input accepts.</summary>
public enum EventKinds
{
    /// <summary>Decisions and grades, told apart by <c>contract_name</c> (files, <c>/admin/telemetry/events</c>).</summary>
    Any,

    /// <summary>Grades only (<c>POST /v1/feedback</c>, the feedback exchange).</summary>
    Feedback,
}

/// <summary>What an ingestion call did.</summary>
public sealed record IngestReport
{
    public long Received { get; init; }
    /// <summary>New decisions and grades stored.</summary>
    public long Stored { get; init; }

    /// <summary>Decisions and grades already stored (same event_id / feedback_id), dropped.</summary>
    public long Duplicates { get; init; }

    public long Rejected { get; init; }

    /// <summary>Of <see cref="Stored"/>: grades (<c>routeiq.router_feedback.v1</c>).</summary>
    public long FeedbackStored { get; init; }

    /// <summary>Of <see cref="Duplicates"/>: grades.</summary>
    public long FeedbackDuplicates { get; init; }

    /// <summary>The first rejections (at most <see cref="IngestBatch.MaxReportedRejections"/>).</summary>
    public IReadOnlyList<IngestRejection> Rejections { get; init; } = [];
}

/// <summary>Collects parse results of one input batch; <see cref="IngestService.WriteAsync"/> stores it in one transaction.</summary>
public sealed class IngestBatch(string source)
{
    public const int MaxReportedRejections = 100;

    public string Source { get; } = source;
    public List<RouterDecision> Decisions { get; } = [];
    public List<RouterFeedback> Feedback { get; } = [];
    public List<RejectedEvent> Rejected { get; } = [];
    public List<IngestRejection> Rejections { get; } = [];
    public long Received { get; private set; }

    public int Count => Decisions.Count + Feedback.Count + Rejected.Count;

    public void Add(ParseResult result, long index, Func<string> rawBody)
    {
        Received++;
        if (result.Decision is { } decision)
        {
            Decisions.Add(decision);
        }
        else if (result.Feedback is { } feedback)
        {
            Feedback.Add(feedback);
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
        Feedback.Clear();
        Rejected.Clear();
    }
}

/// <summary>The write path the HTTP inputs and importers share: one committed transaction per batch, with metrics and logs.</summary>
public sealed class IngestService(DecisionParser parser, FeedbackParser feedbackParser, IDecisionWriter writer, IngestMetrics metrics,
    IEnumerable<Drift.IStoredBatchObserver> observers, ILogger<IngestService> logger)
{
    public DecisionParser Parser => parser;

    public FeedbackParser FeedbackParser => feedbackParser;

    /// <summary>
    /// One event of either contract, told apart by its <c>contract_name</c> (<see cref="EventKinds.Any"/>),
    /// or read as a grade whatever it says (<see cref="EventKinds.Feedback"/>: a decision there is rejected).
    /// </summary>
    public ParseResult Parse(ReadOnlySpan<byte> json, in DecisionContext context, EventKinds kinds = EventKinds.Any)
        => kinds == EventKinds.Feedback || FeedbackParser.IsFeedback(json)
            ? feedbackParser.Parse(json, context)
            : parser.Parse(json, context);

    public async Task<WriteResult> WriteAsync(IngestBatch batch, CancellationToken cancellationToken)
    {
        var result = await writer.WriteAsync(batch.Decisions, batch.Rejected, batch.Feedback, cancellationToken);
        metrics.Record(result, batch.Source);
        foreach (var observer in observers)
        {
            observer.Stored(batch.Decisions, result.Inserted);
            if (result.Grades is { Count: > 0 } grades)
            {
                observer.GradesStored(grades);
            }
        }
        if (result.Rejected > 0)
        {
            logger.LogWarning("{Source}: rejected {Rejected} event(s); first reason: {Reason}",
                batch.Source, result.Rejected, batch.Rejected[0].Reason);
        }
        return result;
    }
}

/// <summary>
/// Group commit for concurrent requests (OTLP exports): batches that arrive while a write is
/// running are merged and written together by the next caller in line, so N concurrent exports
/// cost one transaction instead of N competing ones. Every caller returns only once its own
/// rows are committed; a failed write fails every request merged into it (the exporters retry,
/// and <c>event_id</c> deduplication makes the retry safe).
/// </summary>
public sealed class CoalescingIngest(IngestService ingest)
{
    /// <summary>Rows merged into one write at most.</summary>
    public const int MaxMergedRows = 8192;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentQueue<Pending> _queue = new();

    private sealed record Pending(IngestBatch Batch, TaskCompletionSource Done);

    public async Task WriteAsync(IngestBatch batch, CancellationToken cancellationToken)
    {
        var pending = new Pending(batch, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        _queue.Enqueue(pending);
        // Writes are never cancelled half way for one caller: other requests' rows ride along.
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            while (!pending.Done.Task.IsCompleted && _queue.TryPeek(out _))
            {
                await WriteQueuedAsync(batch.Source);
            }
        }
        finally
        {
            _gate.Release();
        }
        await pending.Done.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteQueuedAsync(string source)
    {
        var taken = new List<Pending>();
        var merged = new IngestBatch(source);
        while (merged.Count < MaxMergedRows && _queue.TryDequeue(out var next))
        {
            taken.Add(next);
            merged.Decisions.AddRange(next.Batch.Decisions);
            merged.Feedback.AddRange(next.Batch.Feedback);
            merged.Rejected.AddRange(next.Batch.Rejected);
        }
        try
        {
            await ingest.WriteAsync(merged, CancellationToken.None);
            foreach (var item in taken)
            {
                item.Done.TrySetResult();
            }
        }
        catch (Exception ex)
        {
            foreach (var item in taken)
            {
                item.Done.TrySetException(ex);
            }
        }
    }
}
