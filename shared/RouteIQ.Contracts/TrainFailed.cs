namespace RouteIQ.Contracts;

/// <summary>Event: a job ended without a model (non-zero exit, timeout, no model, cancel, launch error).</summary>
public sealed record TrainFailed
{
    public required Guid JobId { get; init; }
    public required string Trainer { get; init; }
    public string? Node { get; init; }
    public string? WorkloadName { get; init; }
    public int Attempt { get; init; } = 1;
    public required string Reason { get; init; }
    public int? ExitCode { get; init; }
    public bool TimedOut { get; init; }
    public bool Cancelled { get; init; }

    /// <summary>
    /// The runner gave the job back without a verdict (it is shutting down): gateway-admin
    /// re-dispatches it instead of failing it, and does not count the attempt.
    /// </summary>
    public bool HandedBack { get; init; }

    /// <summary>Last 1,200 characters of the log.</summary>
    public string? LogsTail { get; init; }

    public string? LogsUri { get; init; }
    public string? RunId { get; init; }
    public double DurationSeconds { get; init; }
    public required DateTimeOffset FailedAt { get; init; }
}
