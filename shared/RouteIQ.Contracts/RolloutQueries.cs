namespace RouteIQ.Contracts;

// Request/response between gateway-admin and rollout for /admin/rollouts.

/// <summary>Request: rollouts, newest first (optionally of one model).</summary>
public sealed record GetRollouts
{
    public string? ModelName { get; init; }
    public int Limit { get; init; } = 100;
}

/// <summary>Request: one rollout.</summary>
public sealed record GetRollout
{
    public required Guid RolloutId { get; init; }
}

/// <summary>Request: operator control of a rollout: <c>pause</c>, <c>resume</c>, <c>promote</c> or <c>abort</c>.</summary>
public sealed record ControlRollout
{
    public required Guid RolloutId { get; init; }
    public required string Action { get; init; }
}

/// <summary>Answer: the rollouts asked for, each a JSON document as <c>GET /admin/rollouts/{id}</c> shows it.</summary>
public sealed record RolloutDocuments
{
    public IReadOnlyList<string> Rollouts { get; init; } = [];

    /// <summary>For a single-rollout question or a control: 200, 404 or 409.</summary>
    public int StatusCode { get; init; } = 200;

    public string? Error { get; init; }
}
