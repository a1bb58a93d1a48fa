namespace RouteIQ.Contracts;

/// <summary>Event: a candidate was taken out of traffic (breach, operator abort or restart); production is untouched.</summary>
public sealed record ModelRolledBack
{
    public required Guid RolloutId { get; init; }
    public required string ModelName { get; init; }
    public int? FromVersion { get; init; }
    public required int ToVersion { get; init; }

    /// <summary>Why, naming the rule and both numbers (e.g. <c>error_rate 0.31 &gt; max_error_rate 0.01</c>).</summary>
    public required string Reason { get; init; }

    /// <summary><c>rolled_back</c> or <c>aborted</c>.</summary>
    public required string State { get; init; }

    public int Step { get; init; } = -1;
    public required DateTimeOffset RolledBackAt { get; init; }
}
