namespace RouteIQ.Contracts;

/// <summary>
/// Request (gateway-admin → telemetry-ingest): counters and drift of the decision stream, read
/// from the per-window statistics (never from the decision rows). Answered with <see cref="DecisionStatistics"/>.
/// </summary>
public sealed record GetDecisionStatistics
{
    /// <summary>Count decisions (and grades) with a timestamp at or after this.</summary>
    public required DateTimeOffset Since { get; init; }

    /// <summary>The dataset the production version was trained on: its window is the PSI baseline. Null: no PSI.</summary>
    public string? BaselineDatasetId { get; init; }

    /// <summary>Current window start for PSI; default the baseline window's end.</summary>
    public DateTimeOffset? CurrentSince { get; init; }

    /// <summary><see cref="DecisionStatistics.Drifted"/> when the largest feature PSI reaches this (and <see cref="MinSamples"/> current decisions are there).</summary>
    public double? PsiThreshold { get; init; }

    public long MinSamples { get; init; }

    /// <summary>Graded quality counts decisions at or after this too (the last run's window end: a retrain's evidence is not read twice). Default <see cref="CurrentSince"/>.</summary>
    public DateTimeOffset? QualitySince { get; init; }

    /// <summary>Who asked (logs).</summary>
    public string? Trainer { get; init; }
    public string? ModelName { get; init; }
}
