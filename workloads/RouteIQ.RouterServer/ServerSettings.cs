using System.Collections;
using System.Globalization;
using RouteIQ.Artifacts;
using RouteIQ.Routing;

namespace RouteIQ.RouterServer;

/// <summary>The router server's configuration, from environment variables only (the serving contract).</summary>
public sealed record ServerSettings
{
    /// <summary>Where the model version's files are: a plain path, file:// folder or s3:// folder (with or without manifest.json).</summary>
    public required string ModelUri { get; init; }

    public int Port { get; init; } = 8080;

    public string Host { get; init; } = "0.0.0.0";

    public TimeSpan ReloadInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>λ for requests that give none; null keeps the λ the model was trained with.</summary>
    public double? CostWeight { get; init; }

    public int MaxBatch { get; init; } = 1000;

    /// <summary><c>EXPLORATION</c>: none (default), epsilon:&lt;e&gt; or softmax:&lt;temperature&gt;.</summary>
    public ExplorationPolicy Exploration { get; init; } = ExplorationPolicy.None;

    /// <summary>Where downloaded versions are kept while served.</summary>
    public string CacheDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "routeiq-router-server");

    public string? HmacKey { get; init; }

    public string? Ed25519PublicKeyPath { get; init; }

    /// <summary>The Ed25519 public key itself (base64 of the raw 32 bytes, or PEM): what rollout passes to the servers it starts.</summary>
    public string? Ed25519PublicKey { get; init; }

    /// <summary>Never prints the HMAC key.</summary>
    public override string ToString() => $"ServerSettings {{ ModelUri = {ModelUri}, Port = {Port}, Signing = {(HmacKey is not null ? "hmac-sha256" : Ed25519PublicKeyPath is not null || Ed25519PublicKey is not null ? "ed25519" : "none")} }}";

    public IManifestSigner? CreateVerifier()
    {
        if (new[] { HmacKey, Ed25519PublicKeyPath, Ed25519PublicKey }.Count(k => k is not null) > 1)
        {
            throw new ServerConfigurationException("MANIFEST_HMAC_KEY",
                "set one of MANIFEST_HMAC_KEY, MANIFEST_ED25519_PUBLIC_KEY and MANIFEST_ED25519_PUBLIC_KEY_PATH, not several");
        }
        if (HmacKey is not null)
        {
            return new HmacManifestSigner(HmacKey);
        }
        if (Ed25519PublicKey is not null)
        {
            try
            {
                return Ed25519ManifestSigner.FromPublicKey(System.Text.Encoding.ASCII.GetBytes(Ed25519PublicKey));
            }
            catch (ManifestVerificationException ex)
            {
                throw new ServerConfigurationException("MANIFEST_ED25519_PUBLIC_KEY", ex.Message);
            }
        }
        if (Ed25519PublicKeyPath is not null)
        {
            if (!File.Exists(Ed25519PublicKeyPath))
            {
                throw new ServerConfigurationException("MANIFEST_ED25519_PUBLIC_KEY_PATH", $"file '{Ed25519PublicKeyPath}' does not exist");
            }
            try
            {
                return Ed25519ManifestSigner.FromPublicKeyFile(Ed25519PublicKeyPath);
            }
            catch (ManifestVerificationException ex)
            {
                throw new ServerConfigurationException("MANIFEST_ED25519_PUBLIC_KEY_PATH", ex.Message);
            }
        }
        return null;
    }

    public static ServerSettings FromEnvironment(IDictionary environment)
    {
        string? Get(string key) => environment[key] is string s && !string.IsNullOrWhiteSpace(s) ? s.Trim() : null;
        var uri = Get("SERVE_MODEL_URI") ?? throw new ServerConfigurationException("SERVE_MODEL_URI", "is required (a model folder: path, file:// or s3://)");
        var port = Get("SERVE_PORT") is { } p
            ? int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v is > 0 and < 65536 ? v : throw new ServerConfigurationException("SERVE_PORT", $"expected a port number, got '{p}'")
            : 8080;
        var interval = Get("RELOAD_INTERVAL_SECONDS") is { } r
            ? double.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s is > 0 and <= 3600 ? s : throw new ServerConfigurationException("RELOAD_INTERVAL_SECONDS", $"expected seconds in (0, 3600], got '{r}'")
            : 2;
        double? costWeight = Get("COST_WEIGHT") is { } c
            ? double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out var l) && l >= 0 && double.IsFinite(l) ? l : throw new ServerConfigurationException("COST_WEIGHT", $"expected a non-negative number, got '{c}'")
            : null;
        var maxBatch = Get("MAX_BATCH") is { } b
            ? int.TryParse(b, NumberStyles.Integer, CultureInfo.InvariantCulture, out var mb) && mb > 0 ? mb : throw new ServerConfigurationException("MAX_BATCH", $"expected a positive integer, got '{b}'")
            : 1000;
        ExplorationPolicy exploration;
        try
        {
            exploration = ExplorationPolicy.Parse(Get(ExplorationPolicy.SettingName));
        }
        catch (RoutingDataException ex)
        {
            throw new ServerConfigurationException(ExplorationPolicy.SettingName, ex.Problem);
        }
        return new ServerSettings
        {
            Exploration = exploration,
            ModelUri = uri,
            Port = port,
            Host = Get("SERVE_HOST") ?? "0.0.0.0",
            ReloadInterval = TimeSpan.FromSeconds(interval),
            CostWeight = costWeight,
            MaxBatch = maxBatch,
            CacheDirectory = Get("MODEL_CACHE_DIR") ?? Path.Combine(Path.GetTempPath(), "routeiq-router-server"),
            HmacKey = Get("MANIFEST_HMAC_KEY"),
            Ed25519PublicKeyPath = Get("MANIFEST_ED25519_PUBLIC_KEY_PATH"),
            Ed25519PublicKey = Get("MANIFEST_ED25519_PUBLIC_KEY"),
        };
    }
}

public sealed class ServerConfigurationException(string key, string problem) : Exception($"{key}: {problem}")
{
    public string Key { get; } = key;
}
