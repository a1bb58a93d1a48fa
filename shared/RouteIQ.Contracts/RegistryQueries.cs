namespace RouteIQ.Contracts;

// Request/response between gateway-admin and rollout: gateway-admin never reads rollout's tables.

/// <summary>Request: the active deployment (of <see cref="ModelName"/>, or the default model).</summary>
public sealed record GetActiveDeployment
{
    public string? ModelName { get; init; }
}

/// <summary>Request: the deployment history, newest first.</summary>
public sealed record GetDeploymentHistory
{
    public string? ModelName { get; init; }
    public int Limit { get; init; } = 100;
}

/// <summary>Request: does <see cref="Ref"/> (<c>@alias</c> or a version) of a model exist?</summary>
public sealed record ResolveModelVersion
{
    public required string ModelName { get; init; }
    public required string Ref { get; init; }
}

public sealed record ModelVersionResolved
{
    public required string ModelName { get; init; }
    public required int Version { get; init; }
    public string? ModelUri { get; init; }
    public string? ServeImage { get; init; }
}

public sealed record ModelVersionNotFound
{
    public required string ModelName { get; init; }
    public required string Ref { get; init; }
    public required string Reason { get; init; }
}

/// <summary>One deployment, as <c>GET /status</c> and <c>GET /admin/deployments</c> show it.</summary>
public sealed record DeploymentInfo
{
    public required Guid DeploymentId { get; init; }
    public required string ModelName { get; init; }
    public required int Version { get; init; }
    public string? Alias { get; init; }
    public string? ModelUri { get; init; }
    public string? ManifestUri { get; init; }
    public string? ServeImage { get; init; }
    public string? ServerUrl { get; init; }
    public string? PublicUrl { get; init; }
    public required bool Active { get; init; }
    public bool? Healthy { get; init; }
    public required DateTimeOffset DeployedAt { get; init; }
    public DateTimeOffset? RetiredAt { get; init; }
    public Guid? PreviousDeploymentId { get; init; }
    public string? PreviousModelName { get; init; }
    public int? PreviousVersion { get; init; }
    public bool IsRollback { get; init; }
}

public sealed record ActiveDeployment
{
    /// <summary>Null when nothing was ever deployed.</summary>
    public DeploymentInfo? Deployment { get; init; }
}

public sealed record DeploymentHistory
{
    public IReadOnlyList<DeploymentInfo> Deployments { get; init; } = [];
}
