namespace RouteIQ.Contracts;

/// <summary>Event: a job is still running on its node (every <c>RouteIQ:Runner:HeartbeatSeconds</c>).</summary>
public sealed record TrainHeartbeat
{
    public required Guid JobId { get; init; }
    public required string Node { get; init; }
    public required string WorkloadName { get; init; }
    public int Attempt { get; init; } = 1;
    public double ElapsedSeconds { get; init; }

    /// <summary>The end of the log so far, for <c>GET /admin/jobs/{id}/logs</c> while running.</summary>
    public string? LogTail { get; init; }

    public required DateTimeOffset Timestamp { get; init; }
}
