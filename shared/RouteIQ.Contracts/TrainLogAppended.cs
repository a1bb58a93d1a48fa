namespace RouteIQ.Contracts;

/// <summary>
/// Event: new output of a running job, as it is written (every <c>RouteIQ:Runner:LogStreamMilliseconds</c>), so
/// <c>routeiq logs --follow</c> and the dashboard show a line about as soon as the trainer writes it.
/// Transient: gateway-admin keeps a bounded window in memory; the whole log is stored when the job ends.
/// </summary>
public sealed record TrainLogAppended
{
    /// <summary>Starts a stored log whose beginning was dropped (the runner keeps a bounded log): offsets then do not map into it.</summary>
    public const string TruncatedMarker = "[... earlier output dropped ...]\n";

    public required Guid JobId { get; init; }
    public int Attempt { get; init; } = 1;
    public required string Node { get; init; }

    /// <summary>Characters of this attempt's output before <see cref="Text"/> (a redelivered or repeated chunk is recognised by it).</summary>
    public required long Offset { get; init; }

    public required string Text { get; init; }
    public required DateTimeOffset Timestamp { get; init; }
}
