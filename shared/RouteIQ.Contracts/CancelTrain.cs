namespace RouteIQ.Contracts;

/// <summary>Command: stop and remove a job's workload wherever it runs. Published to every runner node.</summary>
public sealed record CancelTrain
{
    public required Guid JobId { get; init; }
    public string? Reason { get; init; }

    /// <summary>When set, only this node acts (e.g. a duplicate start of an attempt that already runs elsewhere); else every node holding the job does.</summary>
    public string? Node { get; init; }

    /// <summary>When set, only this attempt is stopped.</summary>
    public int? Attempt { get; init; }
    public required DateTimeOffset RequestedAt { get; init; }
}
