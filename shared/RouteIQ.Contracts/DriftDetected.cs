namespace RouteIQ.Contracts;

/// <summary>
/// Event: the decision stream drifted from the window a production model was trained on
/// (population stability index per feature, computed from telemetry-ingest's window statistics).
/// </summary>
public sealed record DriftDetected
{
    public string? Trainer { get; init; }
    public string? ModelName { get; init; }
    public required string BaselineDatasetId { get; init; }
    public required DateTimeOffset BaselineSince { get; init; }
    public required DateTimeOffset BaselineUntil { get; init; }
    public required DateTimeOffset CurrentSince { get; init; }

    /// <summary>PSI per feature: <c>query_length</c>, <c>requested_model</c>, <c>api_type</c>, <c>strategy</c>, <c>selected_model</c>, <c>outcome</c>.</summary>
    public required IReadOnlyDictionary<string, double> Psi { get; init; }
    public required double MaxPsi { get; init; }
    public required double Threshold { get; init; }
    public long BaselineSamples { get; init; }
    public long CurrentSamples { get; init; }
    public required DateTimeOffset DetectedAt { get; init; }
}
