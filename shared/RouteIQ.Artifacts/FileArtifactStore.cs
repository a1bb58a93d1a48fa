using System.Runtime.CompilerServices;
using RouteIQ.Contracts;

namespace RouteIQ.Artifacts;

/// <summary>
/// Artifacts on the local filesystem. Writes go to a temporary file renamed into place, so a
/// reader never sees half an object.
/// </summary>
public sealed class FileArtifactStore : IArtifactStore
{
    private readonly string _root;

    public FileArtifactStore(string rootDirectory)
    {
        _root = Path.GetFullPath(rootDirectory);
        Directory.CreateDirectory(_root);
        Root = new Uri(Path.TrimEndingDirectorySeparator(_root) + Path.DirectorySeparatorChar);
    }

    public Uri Root { get; }

    public string RootDirectory => _root;

    public string GetUri(string key) => new Uri(Root, ArtifactKeys.Normalize(key)).AbsoluteUri;

    /// <summary>The local path of a key (process-mode workloads read models from here).</summary>
    public string GetPath(string key)
    {
        var path = Path.GetFullPath(Path.Combine(_root, ArtifactKeys.Normalize(key)));
        // Normalize already refuses every way out; this keeps it true whatever a future key rule misses.
        if (!path.StartsWith(Path.TrimEndingDirectorySeparator(_root) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new InvalidIdentifierException("key", $"key '{key}' resolves outside the artifact root");
        }
        return key.EndsWith('/') && !path.EndsWith(Path.DirectorySeparatorChar) ? path + Path.DirectorySeparatorChar : path;
    }

    public async Task<ArtifactFile> PutAsync(string key, Stream content, CancellationToken cancellationToken = default)
    {
        var normalized = ArtifactKeys.Normalize(key);
        var path = GetPath(normalized);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = $"{path}.{Guid.NewGuid():N}.partial";
        try
        {
            using var hashing = new HashingReadStream(content);
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                await hashing.CopyToAsync(file, 81920, cancellationToken);
                await file.FlushAsync(cancellationToken);
            }
            File.Move(temp, path, overwrite: true);
            return new ArtifactFile(normalized, hashing.Sha256Hex(), hashing.BytesRead);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken = default)
    {
        var path = GetPath(key);
        try
        {
            Stream stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 81920, useAsync: true);
            return Task.FromResult(stream);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ArtifactNotFoundException(key);
        }
    }

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken = default)
        => Task.FromResult(File.Exists(GetPath(key)));

    public async IAsyncEnumerable<ArtifactEntry> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var normalized = string.IsNullOrEmpty(prefix) ? "" : ArtifactKeys.Normalize(prefix);
        // A prefix is a key prefix, not necessarily a folder: list the deepest folder it names.
        var folderPart = normalized.Contains('/') ? normalized[..(normalized.LastIndexOf('/') + 1)] : "";
        var folder = Path.Combine(_root, folderPart);
        if (!Directory.Exists(folder))
        {
            yield break;
        }
        var entries = new List<ArtifactEntry>();
        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            if (file.EndsWith(".partial", StringComparison.Ordinal))
            {
                continue;
            }
            var key = Path.GetRelativePath(_root, file).Replace(Path.DirectorySeparatorChar, '/');
            if (!key.StartsWith(normalized, StringComparison.Ordinal))
            {
                continue;
            }
            var info = new FileInfo(file);
            entries.Add(new ArtifactEntry(key, info.Length, info.LastWriteTimeUtc));
        }
        entries.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var entry in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return entry;
        }
        await Task.CompletedTask;
    }

    public async Task CopyAsync(string sourceKey, string destinationKey, CancellationToken cancellationToken = default)
    {
        await using var source = await OpenReadAsync(sourceKey, cancellationToken);
        await PutAsync(destinationKey, source, cancellationToken);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        TryDelete(GetPath(key));
        return Task.CompletedTask;
    }

    public Task CheckAsync(CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(_root))
        {
            throw new DirectoryNotFoundException($"artifact root {_root} does not exist");
        }
        return Task.CompletedTask;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
