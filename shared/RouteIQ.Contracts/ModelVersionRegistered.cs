namespace RouteIQ.Contracts;

/// <summary>
/// Event: rollout registered the model a training job produced as a new version
/// (<c>registry/{model}/{version}/</c>). gateway-admin puts the version into the train response.
/// </summary>
public sealed record ModelVersionRegistered
{
    /// <summary>The training job whose output this version is.</summary>
    public required Guid JobId { get; init; }
    public required string ModelName { get; init; }
    public required int Version { get; init; }

    /// <summary>Where the version's files are: <c>{store}/registry/{model}/{version}/</c>.</summary>
    public required string ModelUri { get; init; }

    public string? RunId { get; init; }
    public required DateTimeOffset RegisteredAt { get; init; }
}
