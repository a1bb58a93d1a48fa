using Microsoft.EntityFrameworkCore;

namespace RouteIQ.TelemetryIngest.Store;

/// <summary><c>GET /admin/telemetry/summary</c>: what arrived in a window.</summary>
public sealed record TelemetrySummary
{
    public required DateTimeOffset Since { get; init; }
    public required DateTimeOffset Until { get; init; }
    public long Decisions { get; init; }
    public IReadOnlyDictionary<string, long> ByModel { get; init; } = new Dictionary<string, long>();
    public IReadOnlyDictionary<string, long> ByStrategy { get; init; } = new Dictionary<string, long>();
    public IReadOnlyDictionary<string, long> ByOutcome { get; init; } = new Dictionary<string, long>();
    public IReadOnlyDictionary<string, long> BySource { get; init; } = new Dictionary<string, long>();
    public LatencySummary LatencyMs { get; init; } = new();
    public TokenSummary Tokens { get; init; } = new();
    public long Rejected { get; init; }
    public IReadOnlyDictionary<string, long> RejectionsByReason { get; init; } = new Dictionary<string, long>();
    public long DuplicatesSinceStart { get; init; }

    /// <summary>Grades (<c>routeiq.router_feedback.v1</c>) dated in the window.</summary>
    public FeedbackSummary Feedback { get; init; } = new();
}

/// <summary>Grades in the window: totals by source, the window's decisions that have a grade, and orphans.</summary>
public sealed record FeedbackSummary
{
    public long Total { get; init; }
    public IReadOnlyDictionary<string, long> BySource { get; init; } = new Dictionary<string, long>();

    /// <summary>Decisions of the window with at least one grade (joined by event id, else trace and span id), whenever the grade came.</summary>
    public long GradedDecisions { get; init; }

    /// <summary>Grades of the window whose decision is not stored (yet): kept, and joined when it comes.</summary>
    public long Orphans { get; init; }

    public long DuplicatesSinceStart { get; init; }
}

/// <summary>Nearest-rank percentiles of <c>timings.total_ms</c>.</summary>
public sealed record LatencySummary
{
    public double? P50 { get; init; }
    public double? P95 { get; init; }
    public double? P99 { get; init; }
}

public sealed record TokenSummary
{
    public long Input { get; init; }
    public long Output { get; init; }
    public long Total { get; init; }
}

public sealed class TelemetrySummaryQuery(IDbContextFactory<TelemetryDbContext> contexts, IngestMetrics metrics)
{
    public const string Unknown = "(none)";

    public async Task<TelemetrySummary> GetAsync(DateTimeOffset since, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var from = since.ToUnixTimeMilliseconds();
        var to = until.ToUnixTimeMilliseconds();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var window = db.Decisions.AsNoTracking().Where(d => d.TimestampMs >= from && d.TimestampMs < to);

        var byModel = await window.GroupBy(d => d.SelectedDeployment ?? d.RequestedModel)
            .Select(g => new { g.Key, Count = g.LongCount() }).ToListAsync(cancellationToken);
        var byStrategy = await window.GroupBy(d => d.StrategyName)
            .Select(g => new { g.Key, Count = g.LongCount() }).ToListAsync(cancellationToken);
        var byOutcome = await window.GroupBy(d => d.OutcomeStatus)
            .Select(g => new { g.Key, Count = g.LongCount() }).ToListAsync(cancellationToken);
        var bySource = await window.GroupBy(d => d.Source)
            .Select(g => new { g.Key, Count = g.LongCount() }).ToListAsync(cancellationToken);
        var tokens = await window.GroupBy(_ => 1).Select(g => new
        {
            Input = g.Sum(d => d.InputTokens ?? 0),
            Output = g.Sum(d => d.OutputTokens ?? 0),
            Total = g.Sum(d => d.TotalTokens ?? 0),
        }).FirstOrDefaultAsync(cancellationToken);

        var latencies = window.Where(d => d.TotalMs != null).Select(d => d.TotalMs!.Value);
        var latencyCount = await latencies.LongCountAsync(cancellationToken);
        async Task<double?> PercentileAsync(double p)
        {
            if (latencyCount == 0)
            {
                return null;
            }
            var rank = (int)Math.Max(0, Math.Ceiling(p * latencyCount) - 1);
            return await latencies.OrderBy(x => x).Skip(rank).Take(1).FirstAsync(cancellationToken);
        }

        var rejected = db.RejectedEvents.AsNoTracking().Where(r => r.ReceivedAtMs >= from && r.ReceivedAtMs < to);
        var reasons = await rejected.GroupBy(r => r.Reason)
            .Select(g => new { g.Key, Count = g.LongCount() })
            .OrderByDescending(x => x.Count).Take(100).ToListAsync(cancellationToken);

        var grades = db.Feedback.AsNoTracking().Where(f => f.TimestampMs >= from && f.TimestampMs < to);
        var gradesBySource = await grades.GroupBy(f => f.Source).Select(g => new { g.Key, Count = g.LongCount() }).ToListAsync(cancellationToken);
        // The join rules of the dataset build: decision_event_id when the grade has one, else (trace_id, span_id).
        var orphans = await grades.LongCountAsync(f => f.DecisionEventId != null
            ? !db.Decisions.Any(d => d.EventId == f.DecisionEventId)
            : !db.Decisions.Any(d => d.TraceId == f.TraceId && d.SpanId == f.SpanId), cancellationToken);
        var graded = await window.LongCountAsync(d => db.Feedback.Any(f => f.DecisionEventId == d.EventId)
            || (d.TraceId != null && db.Feedback.Any(f => f.DecisionEventId == null && f.TraceId == d.TraceId && f.SpanId == d.SpanId)), cancellationToken);

        return new TelemetrySummary
        {
            Since = since,
            Until = until,
            Decisions = byOutcome.Sum(x => x.Count),
            ByModel = Map(byModel.Select(x => (x.Key, x.Count))),
            ByStrategy = Map(byStrategy.Select(x => (x.Key, x.Count))),
            ByOutcome = Map(byOutcome.Select(x => (x.Key, x.Count))),
            BySource = Map(bySource.Select(x => ((string?)x.Key, x.Count))),
            LatencyMs = new LatencySummary { P50 = await PercentileAsync(0.50), P95 = await PercentileAsync(0.95), P99 = await PercentileAsync(0.99) },
            Tokens = tokens is null ? new TokenSummary() : new TokenSummary { Input = tokens.Input, Output = tokens.Output, Total = tokens.Total },
            Rejected = await rejected.LongCountAsync(cancellationToken),
            RejectionsByReason = Map(reasons.Select(x => ((string?)x.Key, x.Count))),
            DuplicatesSinceStart = metrics.DuplicatesSinceStart,
            Feedback = new FeedbackSummary
            {
                Total = gradesBySource.Sum(x => x.Count),
                BySource = Map(gradesBySource.Select(x => ((string?)x.Key, x.Count))),
                GradedDecisions = graded,
                Orphans = orphans,
                DuplicatesSinceStart = metrics.FeedbackDuplicatesSinceStart,
            },
        };
    }

    private static SortedDictionary<string, long> Map(IEnumerable<(string? Key, long Count)> rows)
    {
        var map = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, count) in rows)
        {
            map[key ?? Unknown] = map.GetValueOrDefault(key ?? Unknown) + count;
        }
        return map;
    }
}
