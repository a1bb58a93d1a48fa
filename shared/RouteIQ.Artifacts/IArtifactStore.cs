using RouteIQ.Contracts;

namespace RouteIQ.Artifacts;

/// <summary>
/// Where run outputs, registered versions, published models and datasets live. Keys are
/// '/'-separated paths relative to the store's root (<c>runs/{job}/output/model.json</c>).
/// </summary>
public interface IArtifactStore
{
    /// <summary>The store's root, e.g. <c>file:///var/lib/routeiq/artifacts/</c> or <c>s3://bucket/prefix/</c>.</summary>
    Uri Root { get; }

    /// <summary>The URI of one key (or of a folder, when <paramref name="key"/> ends with '/').</summary>
    string GetUri(string key);

    /// <summary>Streams <paramref name="content"/> to <paramref name="key"/>, computing its SHA-256 on the way; memory use is bounded whatever the size.</summary>
    Task<ArtifactFile> PutAsync(string key, Stream content, CancellationToken cancellationToken = default);

    /// <summary>Opens a key for reading. Throws <see cref="ArtifactNotFoundException"/> when absent.</summary>
    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken = default);

    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Every object under <paramref name="prefix"/>, recursively, in ordinal key order.</summary>
    IAsyncEnumerable<ArtifactEntry> ListAsync(string prefix, CancellationToken cancellationToken = default);

    Task CopyAsync(string sourceKey, string destinationKey, CancellationToken cancellationToken = default);

    /// <summary>Deletes one key; absent keys are not an error.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Probes the store (health checks).</summary>
    Task CheckAsync(CancellationToken cancellationToken = default);
}

/// <summary>One stored object.</summary>
public sealed record ArtifactEntry(string Key, long Size, DateTimeOffset? LastModified);

public sealed class ArtifactNotFoundException(string key) : Exception($"artifact not found: {key}")
{
    public string Key { get; } = key;
}
