namespace RouteIQ.Contracts;

/// <summary>Command: stop and remove a job's workload wherever it runs. Published to every runner node.</summary>
public sealed record CancelTrain
{
    public required Guid JobId { get; init; }
    public string? Reason { get; init; }
    public required DateTimeOffset RequestedAt { get; init; }
}
