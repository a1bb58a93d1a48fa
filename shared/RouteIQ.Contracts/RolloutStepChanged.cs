namespace RouteIQ.Contracts;

/// <summary>Event: a promotion moved to a new state or canary step (rollout id = the roll's job id).</summary>
public sealed record RolloutStepChanged
{
    public required Guid RolloutId { get; init; }
    public required string ModelName { get; init; }
    public int? FromVersion { get; init; }
    public required int ToVersion { get; init; }

    /// <summary><c>gating</c>, <c>shadow</c>, <c>canary</c>, <c>promoted</c>, <c>rolled_back</c>, <c>aborted</c> or <c>failed</c>.</summary>
    public required string State { get; init; }

    /// <summary>Index of the canary step (0-based); -1 outside the canary.</summary>
    public int Step { get; init; } = -1;

    /// <summary>Candidate's share of the stable endpoint's traffic, percent.</summary>
    public double Weight { get; init; }

    public required DateTimeOffset ChangedAt { get; init; }
}
