namespace RouteIQ.Contracts;

/// <summary>Response to <see cref="BuildDataset"/>: the build was refused or failed.</summary>
public sealed record DatasetBuildFailed
{
    public required string DatasetId { get; init; }

    /// <summary>The option at fault (<c>test_split</c>, <c>labels.quality_weight</c> …), or <c>dataset</c>.</summary>
    public required string Field { get; init; }

    public required string Reason { get; init; }
}
