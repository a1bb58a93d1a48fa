using System.Security.Cryptography;
using System.Text;
using RouteIQ.Artifacts;
using RouteIQ.Routing;

namespace RouteIQ.RouterServer;

/// <summary>One served model version, immutable once loaded.</summary>
public sealed record LoadedModel(RouterModel Model, string? Version, string Fingerprint, DateTimeOffset LoadedAt, string LocalDirectory);

/// <summary>
/// Downloads a model folder into a private local copy, verifies manifest.json (signature when
/// a key is configured, SHA-256 of every listed file) and loads it. Without a manifest (a raw
/// training output) it loads with a warning, unless a signing key is configured.
/// </summary>
public sealed class ModelLoader : IDisposable
{
    private readonly ServerSettings _settings;
    private readonly IManifestSigner? _verifier;
    private readonly ILogger _logger;
    private readonly IArtifactStore _store;

    public ModelLoader(ServerSettings settings, IManifestSigner? verifier, ILogger logger)
    {
        _settings = settings;
        _verifier = verifier;
        _logger = logger;
        var uri = settings.ModelUri;
        _store = ArtifactStoreFactory.Open(uri.Contains("://", StringComparison.Ordinal) && !uri.EndsWith('/') ? uri + "/" : uri);
    }

    /// <summary>Changes whenever the served folder changes: the SHA-256 of manifest.json, or of the file listing when there is none.</summary>
    public async Task<string> FingerprintAsync(CancellationToken cancellationToken)
    {
        if (await _store.ExistsAsync(ModelManifest.FileName, cancellationToken))
        {
            return "manifest:" + Convert.ToHexStringLower(SHA256.HashData(await ReadAllAsync(ModelManifest.FileName, cancellationToken)));
        }
        var listing = new StringBuilder();
        await foreach (var e in _store.ListAsync("", cancellationToken))
        {
            listing.Append(e.Key).Append('|').Append(e.Size).Append('|').Append(e.LastModified?.ToUnixTimeMilliseconds()).Append('\n');
        }
        return "listing:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(listing.ToString())));
    }

    public async Task<LoadedModel> LoadAsync(CancellationToken cancellationToken)
    {
        ModelManifest? manifest = null;
        string fingerprint;
        List<string> files;
        if (await _store.ExistsAsync(ModelManifest.FileName, cancellationToken))
        {
            var bytes = await ReadAllAsync(ModelManifest.FileName, cancellationToken);
            fingerprint = "manifest:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
            try
            {
                manifest = ModelManifest.Parse(bytes);
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not ManifestVerificationException)
            {
                throw new ManifestVerificationException($"manifest.json is invalid: {ex.Message}");
            }
            manifest.VerifySignature(_verifier);
            files = manifest.Artifacts.Select(a => ArtifactKeys.Normalize(a.Path)).ToList();
        }
        else
        {
            if (_verifier is not null)
            {
                throw new ManifestVerificationException($"no manifest.json in {_settings.ModelUri}, and a signing key is configured: refusing an unsigned model");
            }
            fingerprint = await FingerprintAsync(cancellationToken);
            files = [];
            await foreach (var e in _store.ListAsync("", cancellationToken))
            {
                files.Add(e.Key);
            }
            _logger.LogWarning("No manifest.json in {ModelUri}: loading the files unverified (a raw training output)", _settings.ModelUri);
        }
        var local = Path.Combine(_settings.CacheDirectory, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(local);
        try
        {
            foreach (var key in files.Where(k => !k.EndsWith('/')))
            {
                var target = Path.GetFullPath(Path.Combine(local, key));
                if (!target.StartsWith(local + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    throw new ManifestVerificationException($"file path '{key}' escapes the model folder");
                }
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                await using var source = await _store.OpenReadAsync(key, cancellationToken);
                await using var sink = File.Create(target);
                await source.CopyToAsync(sink, cancellationToken);
            }
            if (manifest is not null)
            {
                await manifest.VerifyFilesAsync((key, _) => Task.FromResult<Stream>(File.OpenRead(Path.Combine(local, key))), cancellationToken);
            }
            var model = RouterModel.Load(local);
            return new LoadedModel(model, manifest?.Version, fingerprint, DateTimeOffset.UtcNow, local);
        }
        catch
        {
            TryDelete(local);
            throw;
        }
    }

    public static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A leftover cache folder is harmless; the next start uses a fresh one.
        }
    }

    private async Task<byte[]> ReadAllAsync(string key, CancellationToken cancellationToken)
    {
        await using var stream = await _store.OpenReadAsync(key, cancellationToken);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    public void Dispose() => (_store as IDisposable)?.Dispose();
}
