namespace RouteIQ.Contracts;

/// <summary>Event: a runner node took a job and launched its workload.</summary>
public sealed record TrainStarted
{
    public required Guid JobId { get; init; }
    public required string Trainer { get; init; }
    public required string Node { get; init; }
    public required string WorkloadName { get; init; }
    public int Attempt { get; init; } = 1;
    public string? RunId { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
}
