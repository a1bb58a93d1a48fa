namespace RouteIQ.Contracts;

/// <summary>
/// Event: gateway-admin's ledger committed a job's new state. Every gateway-admin replica
/// receives it, so a synchronous request completes whichever replica consumed the event
/// that caused the change.
/// </summary>
public sealed record JobStateChanged
{
    public required Guid JobId { get; init; }
    public required string State { get; init; }
    public required bool Terminal { get; init; }
    public required DateTimeOffset ChangedAt { get; init; }
}
