namespace RouteIQ.Contracts;

/// <summary>Event: a model version is active behind the stable endpoint and published under <c>models/{model}/</c>.</summary>
public sealed record ModelRolledOut
{
    public required Guid JobId { get; init; }
    public required string ModelName { get; init; }
    public required int Version { get; init; }
    public required string Alias { get; init; }
    public required string ModelUri { get; init; }
    public required string ManifestUri { get; init; }
    public required string ManifestSha256 { get; init; }

    /// <summary>The stable endpoint for this model.</summary>
    public string? PublicUrl { get; init; }

    /// <summary>The serving workload's own URL (null when the version has no server).</summary>
    public string? ServerUrl { get; init; }

    public string? ServeImage { get; init; }
    public Guid DeploymentId { get; init; }
    public int? PreviousVersion { get; init; }
    public string? PreviousModelName { get; init; }
    public bool IsRollback { get; init; }
    public Guid? TrainJobId { get; init; }
    public required DateTimeOffset RolledOutAt { get; init; }
}
