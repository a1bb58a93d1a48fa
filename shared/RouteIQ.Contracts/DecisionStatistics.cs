namespace RouteIQ.Contracts;

/// <summary>Response to <see cref="GetDecisionStatistics"/>.</summary>
public sealed record DecisionStatistics
{
    /// <summary>Decisions stored with a timestamp at or after <see cref="GetDecisionStatistics.Since"/> (window granularity).</summary>
    public long NewDecisions { get; init; }

    /// <summary>Grades stored since then; null while telemetry-ingest keeps no grades.</summary>
    public long? NewFeedback { get; init; }

    /// <summary>PSI per feature (current vs baseline); empty without a baseline.</summary>
    public IReadOnlyDictionary<string, double> Psi { get; init; } = new Dictionary<string, double>();
    public double MaxPsi { get; init; }
    public long BaselineSamples { get; init; }
    public long CurrentSamples { get; init; }
    public DateTimeOffset? BaselineSince { get; init; }
    public DateTimeOffset? BaselineUntil { get; init; }
    public DateTimeOffset? CurrentSince { get; init; }

    /// <summary>The largest PSI reached the request's threshold with enough samples (gateway-admin then fires and publishes <see cref="DriftDetected"/>).</summary>
    public bool Drifted { get; init; }

    /// <summary>
    /// Mean graded quality of the current window (decisions at or after <see cref="QualitySince"/>: grades of the
    /// model each decision chose, joined by <c>decision_event_id</c>), the baseline window's, and how many graded decisions the current one holds.
    /// </summary>
    public double? CurrentQuality { get; init; }
    public double? BaselineQuality { get; init; }
    public long GradedSamples { get; init; }
    public DateTimeOffset? QualitySince { get; init; }

    /// <summary>Per selected model of the current window: mean grade and graded decisions.</summary>
    public IReadOnlyDictionary<string, ModelQuality> QualityByModel { get; init; } = new Dictionary<string, ModelQuality>();

    /// <summary>Why no PSI was computed (unknown baseline dataset …), if none was.</summary>
    public string? Note { get; init; }
}

public sealed record ModelQuality(double Mean, long Graded);
