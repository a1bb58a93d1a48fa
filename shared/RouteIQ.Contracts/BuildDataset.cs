namespace RouteIQ.Contracts;

/// <summary>
/// Request (gateway-admin → telemetry-ingest): build a dataset exactly as <c>POST /admin/datasets</c>
/// does. Answered with <see cref="DatasetBuilt"/> or <see cref="DatasetBuildFailed"/>.
/// </summary>
public sealed record BuildDataset
{
    /// <summary>The dataset id to write (so a retried request finds the dataset it already built).</summary>
    public required string DatasetId { get; init; }

    /// <summary>The build options as the <c>POST /admin/datasets</c> body (snake_case JSON object), without <c>dataset_id</c>.</summary>
    public required string OptionsJson { get; init; }

    /// <summary>Who asked (e.g. <c>continuous:knn-router</c>), for logs.</summary>
    public string? RequestedBy { get; init; }
}
