namespace RouteIQ.Contracts;

/// <summary>Event: a dataset was written to <c>datasets/{id}/</c> in the artifact store.</summary>
public sealed record DatasetBuilt
{
    public required string DatasetId { get; init; }
    public required string Uri { get; init; }
    public IReadOnlyList<ArtifactFile> Files { get; init; } = [];
    public long TotalRecords { get; init; }
    public long TrainRecords { get; init; }
    public long TestRecords { get; init; }
    public long UniqueQueries { get; init; }
    public required DateTimeOffset BuiltAt { get; init; }
}
