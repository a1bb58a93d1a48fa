namespace RouteIQ.Artifacts;

/// <summary>Opens a store from a URI: <c>file:///path</c>, a plain path, or <c>s3://bucket/prefix</c>.</summary>
public static class ArtifactStoreFactory
{
    public static IArtifactStore Open(string uri, S3Settings? s3 = null)
    {
        if (uri.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            var (bucket, prefix) = ParseS3(uri);
            return S3ArtifactStore.Create(bucket, prefix, s3 ?? S3SettingsFromEnvironment());
        }
        if (uri.StartsWith("file://", StringComparison.OrdinalIgnoreCase))
        {
            return new FileArtifactStore(new Uri(uri).LocalPath);
        }
        if (uri.Contains("://", StringComparison.Ordinal))
        {
            throw new ArgumentException($"unsupported artifact URI scheme in '{uri}' (expected file:// or s3://)", nameof(uri));
        }
        return new FileArtifactStore(uri);
    }

    public static (string Bucket, string Prefix) ParseS3(string uri)
    {
        var rest = uri["s3://".Length..];
        var slash = rest.IndexOf('/');
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..];
        if (string.IsNullOrEmpty(bucket))
        {
            throw new ArgumentException($"'{uri}' names no bucket (expected s3://bucket/prefix)", nameof(uri));
        }
        return (bucket, prefix);
    }

    /// <summary>S3 settings for workloads, from <c>AWS_ENDPOINT_URL_S3</c> / <c>AWS_ENDPOINT_URL</c>, <c>AWS_REGION</c>, and the standard credential variables.</summary>
    public static S3Settings S3SettingsFromEnvironment()
    {
        var endpoint = Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL_S3") ?? Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL");
        return new S3Settings
        {
            ServiceUrl = string.IsNullOrWhiteSpace(endpoint) ? null : endpoint,
            Region = Environment.GetEnvironmentVariable("AWS_REGION") ?? Environment.GetEnvironmentVariable("AWS_DEFAULT_REGION") ?? "us-east-1",
            ForcePathStyle = true,
            S3Compatible = !string.IsNullOrWhiteSpace(endpoint),
        };
    }
}
