using RouteIQ.Artifacts;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>
/// The dataset a train request gets when neither the request nor its trainer spec names one: the newest complete
/// dataset in the artifact store (its <c>conversion_metadata.json</c> is written last). Decided here, so every client
/// gets the same and the job's <c>resolved.dataset</c> records which; with no dataset built, none.
/// </summary>
internal static class LatestDataset
{
    private const string Prefix = "datasets/";
    private const string CompleteMarker = "/conversion_metadata.json";

    public static async Task<string?> FindAsync(IArtifactStore store, CancellationToken cancellationToken)
    {
        ArtifactEntry? newest = null;
        await foreach (var entry in store.ListAsync(Prefix, cancellationToken))
        {
            if (entry.Key.EndsWith(CompleteMarker, StringComparison.Ordinal)
                && entry.Key.AsSpan(Prefix.Length, entry.Key.Length - Prefix.Length - CompleteMarker.Length).IndexOf('/') < 0
                && (newest is null || Newer(entry, newest)))
            {
                newest = entry;
            }
        }
        return newest?.Key[Prefix.Length..^CompleteMarker.Length];
    }

    private static bool Newer(ArtifactEntry a, ArtifactEntry b)
    {
        var byTime = Nullable.Compare(a.LastModified, b.LastModified);
        return byTime != 0 ? byTime > 0 : string.CompareOrdinal(a.Key, b.Key) > 0;
    }
}
