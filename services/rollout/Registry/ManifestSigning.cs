using RouteIQ.Artifacts;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.Rollout.Registry;

/// <summary>The key manifests are signed with and verified against; <see cref="Signer"/> is null when none is configured.</summary>
public sealed class ManifestSigning(IManifestSigner? signer)
{
    public IManifestSigner? Signer { get; } = signer;

    public string SignatureType => Signer?.SignatureType ?? ManifestSignatureTypes.None;

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
            return new ManifestSigning(new HmacManifestSigner(hmac));
        }
        if (!string.IsNullOrEmpty(ed25519))
        {
            try
            {
                return new ManifestSigning(Ed25519ManifestSigner.FromPrivateKeyFile(ed25519));
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
