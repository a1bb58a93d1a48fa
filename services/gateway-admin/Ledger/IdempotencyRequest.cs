namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>The <c>Idempotency-Key</c> a request carries and the fingerprint of the request itself (method, route, canonical body).</summary>
public sealed record IdempotencyRequest(string Key, string Fingerprint);

/// <summary>The key was first used by another request (<see cref="Existing"/> is that request's job).</summary>
public sealed class IdempotencyConflictException(Job existing)
    : Exception($"Idempotency-Key was first used for another request (job {existing.Id}, {existing.Kind})")
{
    public Job Existing { get; } = existing;
}
