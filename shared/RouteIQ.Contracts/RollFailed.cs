namespace RouteIQ.Contracts;

/// <summary>Event: a roll or rollback did not happen; nothing active changed.</summary>
public sealed record RollFailed
{
    public required Guid JobId { get; init; }
    public string? ModelName { get; init; }
    public string? Ref { get; init; }
    public int? Version { get; init; }
    public required string Reason { get; init; }

    /// <summary>The HTTP status the admin API answers with: 404, 409, 422, 503 or 500.</summary>
    public int StatusCode { get; init; } = 500;

    public bool IsRollback { get; init; }
    public Guid? TrainJobId { get; init; }
    public required DateTimeOffset FailedAt { get; init; }
}
