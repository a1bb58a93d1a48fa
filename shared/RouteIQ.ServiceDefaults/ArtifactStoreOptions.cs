using Microsoft.Extensions.Configuration;
using RouteIQ.Artifacts;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// <c>RouteIQ:Artifacts</c>: <c>Uri</c> (default <c>file://{DataDir}/artifacts</c>, or
/// <c>s3://bucket/prefix</c>), <c>ServiceUrl</c> (S3-compatible endpoint), <c>Region</c>,
/// <c>ForcePathStyle</c>, <c>S3Compatible</c> (checksums only when required, no chunked uploads;
/// default on when ServiceUrl is set). Credentials come from the standard AWS variables.
/// </summary>
public static class ArtifactStoreOptions
{
    public const string Section = "RouteIQ:Artifacts";

    public static IArtifactStore Create(IConfiguration configuration)
    {
        var section = configuration.GetSection(Section);
        var dataDir = configuration[$"{RouteIQOptions.Section}:DataDir"] ?? "./.routeiq";
        var uri = section["Uri"];
        if (string.IsNullOrWhiteSpace(uri))
        {
            return new FileArtifactStore(Path.Combine(Path.GetFullPath(dataDir), "artifacts"));
        }

        var serviceUrl = section["ServiceUrl"];
        if (!string.IsNullOrWhiteSpace(serviceUrl) && !Uri.TryCreate(serviceUrl, UriKind.Absolute, out _))
        {
            throw new RouteIQConfigurationException($"{Section}:ServiceUrl", $"'{serviceUrl}' is not an absolute URL");
        }
        var hasEndpoint = !string.IsNullOrWhiteSpace(serviceUrl);
        var settings = new S3Settings
        {
            ServiceUrl = hasEndpoint ? serviceUrl : null,
            Region = section["Region"] ?? Environment.GetEnvironmentVariable("AWS_REGION") ?? "us-east-1",
            ForcePathStyle = ParseBool(section, "ForcePathStyle", hasEndpoint),
            S3Compatible = ParseBool(section, "S3Compatible", hasEndpoint),
        };
        try
        {
            return ArtifactStoreFactory.Open(uri, settings);
        }
        catch (ArgumentException ex)
        {
            throw new RouteIQConfigurationException($"{Section}:Uri", ex.Message.Split(" (Parameter")[0]);
        }
    }

    private static bool ParseBool(IConfigurationSection section, string key, bool fallback)
    {
        var text = section[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }
        return bool.TryParse(text, out var value)
            ? value
            : throw new RouteIQConfigurationException($"{Section}:{key}", $"'{text}' is not true or false");
    }
}
