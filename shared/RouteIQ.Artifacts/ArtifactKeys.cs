namespace RouteIQ.Artifacts;

/// <summary>The store layout shared by every service (see specs/mlops-pipeline.md).</summary>
public static class ArtifactKeys
{
    public static string RunOutput(Guid jobId) => $"runs/{jobId:N}/output/";
    public static string RunLogs(Guid jobId) => $"runs/{jobId:N}/logs.txt";
    public static string RegistryVersion(string model, int version) => $"registry/{Identifiers.Validate(model, "model")}/{version}/";
    public static string PublishedModel(string model) => $"models/{Identifiers.Validate(model, "model")}/";
    public static string Dataset(string datasetId) => $"datasets/{Identifiers.Validate(datasetId, "dataset")}/";

    public const int MaxKeyLength = 1024;

    /// <summary>
    /// Rejects keys that could escape the store's root or are not portable across stores: <c>.</c>
    /// and <c>..</c> segments, empty segments inside the key, backslashes, <c>%</c> (a
    /// percent-encoded <c>%2e%2e</c> resolves to <c>..</c> once the key is part of a URI),
    /// <c>?</c> and <c>#</c> (they end a URI's path), <c>:</c> (a first segment with one reads as a
    /// URI scheme), control characters (NUL, newlines). A leading
    /// <c>/</c> is dropped (keys are relative to the root). Throws <see cref="InvalidIdentifierException"/>
    /// naming the field <c>key</c>.
    /// </summary>
    public static string Normalize(string key) => Normalize(key, "key");

    public static string Normalize(string? key, string field)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new InvalidIdentifierException(field, $"{field} is required");
        }
        if (key.Length > MaxKeyLength)
        {
            throw new InvalidIdentifierException(field, $"{field} is longer than {MaxKeyLength} characters");
        }
        foreach (var c in key)
        {
            if (char.IsControl(c) || c is '\\' or '%' or '?' or '#' or ':' || char.IsSurrogate(c) || c is '\uFFFE' or '\uFFFF' or '\u2028' or '\u2029')
            {
                throw new InvalidIdentifierException(field, $"{field} contains {Identifiers.Describe(c)}, which artifact keys may not contain");
            }
        }
        var normalized = key.TrimStart('/');
        var segments = normalized.Split('/');
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (segment is "." or ".." || (segment.Length == 0 && i < segments.Length - 1))
            {
                throw new InvalidIdentifierException(field, $"{field} '{Printable(key)}' has a '{segment}' segment");
            }
        }
        if (normalized.Length == 0)
        {
            throw new InvalidIdentifierException(field, $"{field} names the store's root");
        }
        return normalized;
    }

    private static string Printable(string key) => key.Length <= 80 ? key : key[..80] + "…";

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
