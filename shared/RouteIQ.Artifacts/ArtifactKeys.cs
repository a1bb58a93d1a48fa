namespace RouteIQ.Artifacts;

/// <summary>The store layout shared by every service (see specs/mlops-pipeline.md).</summary>
public static class ArtifactKeys
{
    public static string RunOutput(Guid jobId) => $"runs/{jobId:N}/output/";
    public static string RunLogs(Guid jobId) => $"runs/{jobId:N}/logs.txt";
    public static string RegistryVersion(string model, int version) => $"registry/{model}/{version}/";
    public static string PublishedModel(string model) => $"models/{model}/";
    public static string Dataset(string datasetId) => $"datasets/{datasetId}/";

    /// <summary>Rejects keys that could escape the store's root or are not portable across stores.</summary>
    public static string Normalize(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var normalized = key.Replace('\\', '/').TrimStart('/');
        foreach (var segment in normalized.Split('/'))
        {
            if (segment is "." or "..")
            {
                throw new ArgumentException($"artifact key '{key}' contains a '{segment}' segment", nameof(key));
            }
        }
        if (normalized.Contains('\0'))
        {
            throw new ArgumentException("artifact key contains a NUL character", nameof(key));
        }
        return normalized;
    }

    public static string NormalizePrefix(string prefix)
    {
        if (string.IsNullOrEmpty(prefix))
        {
            return "";
        }
        var normalized = Normalize(prefix);
        return normalized.EndsWith('/') ? normalized : normalized + "/";
    }
}
