using RouteIQ.Artifacts;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.Rollout.Registry;

/// <summary>The key manifests are signed with and verified against; <see cref="Signer"/> is null when none is configured.</summary>
public sealed class ManifestSigning(IManifestSigner? signer, IReadOnlyDictionary<string, string>? serverEnvironment = null)
{
    /// <summary>The router server's variable for the shared HMAC secret.</summary>
    public const string HmacKeyVariable = "MANIFEST_HMAC_KEY";

    /// <summary>The router server's variable for the Ed25519 public key (base64 of the raw 32 bytes, or PEM).</summary>
    public const string Ed25519PublicKeyVariable = "MANIFEST_ED25519_PUBLIC_KEY";

    public IManifestSigner? Signer { get; } = signer;

    public string SignatureType => Signer?.SignatureType ?? ManifestSignatureTypes.None;

    /// <summary>
    /// What every serving workload rollout starts is given so that it verifies each manifest it
    /// loads with the same key material: the HMAC secret, or the Ed25519 public key (never the
    /// private key). Empty when no key is configured. Never logged.
    /// </summary>
    public IReadOnlyDictionary<string, string> ServerEnvironment { get; } = serverEnvironment ?? new Dictionary<string, string>();

    public override string ToString() => $"manifest signing {SignatureType} (key redacted)";

    public static ManifestSigning FromOptions(RolloutOptions.SigningOptions options)
    {
        var hmac = options.HmacKey;
        var ed25519 = options.Ed25519PrivateKeyPath;
        if (!string.IsNullOrEmpty(hmac) && !string.IsNullOrEmpty(ed25519))
        {
            throw new RouteIQConfigurationException($"{RolloutOptions.Section}:Signing",
                "set either HmacKey or Ed25519PrivateKeyPath, not both");
        }
        if (!string.IsNullOrEmpty(hmac))
        {
            return new ManifestSigning(new HmacManifestSigner(hmac), new Dictionary<string, string> { [HmacKeyVariable] = hmac });
        }
        if (!string.IsNullOrEmpty(ed25519))
        {
            try
            {
                var signer = Ed25519ManifestSigner.FromPrivateKeyFile(ed25519);
                return new ManifestSigning(signer, new Dictionary<string, string>
                {
                    [Ed25519PublicKeyVariable] = Convert.ToBase64String(signer.PublicKeyBytes),
                });
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ManifestVerificationException)
            {
                throw new RouteIQConfigurationException($"{RolloutOptions.Section}:Signing:Ed25519PrivateKeyPath",
                    $"cannot load the ed25519 private key '{ed25519}' ({ex.Message})");
            }
        }
        return new ManifestSigning(null);
    }
}
