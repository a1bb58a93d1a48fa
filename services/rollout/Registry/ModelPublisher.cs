using System.Security.Cryptography;
using RouteIQ.Artifacts;

namespace RouteIQ.Rollout.Registry;

/// <summary>
/// Publishes a registered version to <c>models/{model}/</c>, the folder gateways load: the
/// registry copy is verified first (hashes, and the signature when a key is configured),
/// then the files are copied, stale files removed, and <c>manifest.json</c> written last —
/// the commit point. Until then the old manifest does not match the new files, so a
/// half-published folder never verifies.
/// </summary>
public sealed class ModelPublisher(IArtifactStore store, ManifestSigning signing, ILogger<ModelPublisher> logger)
{
    public sealed record Published(string ManifestUri, string ManifestSha256, ModelManifest Manifest);

    /// <summary>Reads and verifies a registered version's manifest and files.</summary>
    public async Task<(ModelManifest Manifest, byte[] Bytes)> VerifyRegisteredAsync(string model, int version, CancellationToken cancellationToken)
    {
        var prefix = ArtifactKeys.RegistryVersion(model, version);
        var bytes = await ReadAllAsync(prefix + ModelManifest.FileName, cancellationToken)
            ?? throw new ManifestVerificationException($"{prefix}{ModelManifest.FileName} is missing");
        var manifest = ModelManifest.Parse(bytes);
        if (manifest.Version != version.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new ManifestVerificationException($"{prefix}{ModelManifest.FileName} says version {manifest.Version}, expected {version}");
        }
        manifest.VerifySignature(signing.Signer);
        await manifest.VerifyFilesAsync((path, ct) => store.OpenReadAsync(prefix + path, ct), cancellationToken);
        return (manifest, bytes);
    }

    /// <param name="verified">The result of <see cref="VerifyRegisteredAsync"/> when the caller just ran it.</param>
    public async Task<Published> PublishAsync(string model, int version, (ModelManifest Manifest, byte[] Bytes)? verified, CancellationToken cancellationToken)
    {
        var (manifest, bytes) = verified ?? await VerifyRegisteredAsync(model, version, cancellationToken);
        var source = ArtifactKeys.RegistryVersion(model, version);
        var target = ArtifactKeys.PublishedModel(model);

        var keep = new HashSet<string>(StringComparer.Ordinal) { target + ModelManifest.FileName };
        foreach (var artifact in manifest.Artifacts)
        {
            var path = ArtifactKeys.Normalize(artifact.Path);
            keep.Add(target + path);
            // Streamed rather than CopyAsync: the hash of what lands in models/ is checked
            // against the manifest (nothing changed since verification), and s3rver's
            // CopyObject answers 404 for keys it serves.
            await using var input = await store.OpenReadAsync(source + path, cancellationToken);
            var copied = await store.PutAsync(target + path, input, cancellationToken);
            if (!string.Equals(copied.Sha256, artifact.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw new ManifestVerificationException($"file {artifact.Path} changed while it was published (sha256 {copied.Sha256}, the manifest says {artifact.Sha256})");
            }
        }
        var stale = new List<string>();
        await foreach (var entry in store.ListAsync(target, cancellationToken))
        {
            if (!keep.Contains(entry.Key))
            {
                stale.Add(entry.Key);
            }
        }
        foreach (var key in stale)
        {
            await store.DeleteAsync(key, cancellationToken);
        }

        using var content = new MemoryStream(bytes, writable: false);
        var file = await store.PutAsync(target + ModelManifest.FileName, content, cancellationToken);
        logger.LogInformation("Published {Model} v{Version} to {Uri} ({Files} files, {Stale} stale removed)",
            model, version, store.GetUri(target), manifest.Artifacts.Count, stale.Count);
        return new Published(store.GetUri(file.Path), file.Sha256, manifest);
    }

    /// <summary>True when <c>models/{model}/</c> holds exactly the manifest <paramref name="manifestSha256"/> and its files verify.</summary>
    public async Task<bool> IsPublishedAsync(string model, string? manifestSha256, CancellationToken cancellationToken)
    {
        var target = ArtifactKeys.PublishedModel(model);
        var bytes = await ReadAllAsync(target + ModelManifest.FileName, cancellationToken);
        if (bytes is null || manifestSha256 is null
            || !string.Equals(Convert.ToHexStringLower(SHA256.HashData(bytes)), manifestSha256, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        try
        {
            var manifest = ModelManifest.Parse(bytes);
            await manifest.VerifyFilesAsync((path, ct) => store.OpenReadAsync(target + path, ct), cancellationToken);
            return true;
        }
        catch (ManifestVerificationException ex)
        {
            logger.LogWarning("Published {Model} does not verify: {Problem}", model, ex.Message);
            return false;
        }
    }

    private async Task<byte[]?> ReadAllAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await store.OpenReadAsync(key, cancellationToken);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken);
            return buffer.ToArray();
        }
        catch (ArtifactNotFoundException)
        {
            return null;
        }
    }
}
