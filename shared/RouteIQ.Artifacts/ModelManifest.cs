using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RouteIQ.Artifacts;

/// <summary>
/// <c>manifest.json</c> of a model version: what RouteIQ gateways and router servers verify
/// before loading (specs/mlops-pipeline.md). The signature covers the canonical JSON of
/// <c>{"artifacts":[{"path","sha256"}…sorted by path],"created_at"?,"description"?,"version"}</c>
/// — keys sorted, separators <c>,</c> and <c>:</c>, no spaces, non-ASCII escaped as <c>\uXXXX</c>,
/// UTF-8 — byte for byte what Python's <c>json.dumps(sort_keys=True, separators=(",", ":"))</c> writes.
/// </summary>
public sealed record ModelManifest
{
    public const string FileName = "manifest.json";

    public required string Version { get; init; }
    public string? CreatedAt { get; init; }
    public string? Description { get; init; }

    /// <summary><c>none</c>, <c>hmac-sha256</c> or <c>ed25519</c>.</summary>
    public string SignatureType { get; init; } = ManifestSignatureTypes.None;

    /// <summary>Base64 signature of <see cref="SigningBytes"/>; null when unsigned.</summary>
    public string? Signature { get; init; }

    public JsonObject? Metadata { get; init; }
    public required IReadOnlyList<ManifestArtifact> Artifacts { get; init; }

    /// <summary>The exact bytes that are signed.</summary>
    public byte[] SigningBytes()
    {
        var sb = new StringBuilder(128 + Artifacts.Count * 96);
        sb.Append("{\"artifacts\":[");
        var sorted = Artifacts.OrderBy(a => a.Path, StringComparer.Ordinal).ToList();
        for (var i = 0; i < sorted.Count; i++)
        {
            if (i > 0)
            {
                sb.Append(',');
            }
            sb.Append("{\"path\":");
            AppendPythonString(sb, sorted[i].Path);
            sb.Append(",\"sha256\":");
            AppendPythonString(sb, sorted[i].Sha256);
            sb.Append('}');
        }
        sb.Append(']');
        if (!string.IsNullOrEmpty(CreatedAt))
        {
            sb.Append(",\"created_at\":");
            AppendPythonString(sb, CreatedAt);
        }
        if (!string.IsNullOrEmpty(Description))
        {
            sb.Append(",\"description\":");
            AppendPythonString(sb, Description);
        }
        sb.Append(",\"version\":");
        AppendPythonString(sb, Version);
        sb.Append('}');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>Python's <c>json.dumps(ensure_ascii=True)</c> string form.</summary>
    private static void AppendPythonString(StringBuilder sb, string value)
    {
        sb.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7E)
                    {
                        // UTF-16 code units, so characters beyond the BMP come out as surrogate pairs, as in Python.
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        sb.Append(c);
                    }
                    break;
            }
        }
        sb.Append('"');
    }

    public ModelManifest Sign(IManifestSigner signer)
    {
        if (signer.SignatureType == ManifestSignatureTypes.None)
        {
            return this with { SignatureType = ManifestSignatureTypes.None, Signature = null };
        }
        var unsigned = this with { SignatureType = signer.SignatureType, Signature = null };
        return unsigned with { Signature = Convert.ToBase64String(signer.Sign(unsigned.SigningBytes())) };
    }

    /// <summary>
    /// Checks the signature against <paramref name="verifier"/> (null: no key configured, any
    /// signature type accepted unchecked). A configured key refuses unsigned manifests and
    /// signatures of another type.
    /// </summary>
    public void VerifySignature(IManifestSigner? verifier)
    {
        if (verifier is null || verifier.SignatureType == ManifestSignatureTypes.None)
        {
            return;
        }
        if (SignatureType == ManifestSignatureTypes.None || string.IsNullOrEmpty(Signature))
        {
            throw new ManifestVerificationException("manifest is unsigned but a signing key is configured");
        }
        if (!string.Equals(SignatureType, verifier.SignatureType, StringComparison.Ordinal))
        {
            throw new ManifestVerificationException($"manifest is signed with {SignatureType} but the configured key is {verifier.SignatureType}");
        }
        byte[] signature;
        try
        {
            signature = Convert.FromBase64String(Signature);
        }
        catch (FormatException)
        {
            throw new ManifestVerificationException("manifest signature is not valid base64");
        }
        if (!verifier.Verify(SigningBytes(), signature))
        {
            throw new ManifestVerificationException("manifest signature does not match its content");
        }
    }

    /// <summary>Checks that every listed file exists with its SHA-256, and that no path escapes the folder.</summary>
    public async Task VerifyFilesAsync(Func<string, CancellationToken, Task<Stream>> open, CancellationToken cancellationToken = default)
    {
        foreach (var artifact in Artifacts)
        {
            Stream stream;
            try
            {
                stream = await open(ArtifactKeys.Normalize(artifact.Path), cancellationToken);
            }
            catch (Exception ex) when (ex is ArtifactNotFoundException or FileNotFoundException or DirectoryNotFoundException or ArgumentException)
            {
                throw new ManifestVerificationException($"file {artifact.Path} listed in the manifest is missing");
            }
            await using (stream)
            {
                var hash = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
                if (!string.Equals(hash, artifact.Sha256, StringComparison.OrdinalIgnoreCase))
                {
                    throw new ManifestVerificationException($"file {artifact.Path} has sha256 {hash}, the manifest says {artifact.Sha256}");
                }
            }
        }
    }

    public byte[] ToJsonBytes()
    {
        var root = new JsonObject
        {
            ["version"] = Version,
            ["created_at"] = CreatedAt,
            ["description"] = Description,
            ["signature_type"] = SignatureType,
            ["signature"] = Signature,
            ["metadata"] = Metadata?.DeepClone(),
            ["artifacts"] = new JsonArray(Artifacts
                .OrderBy(a => a.Path, StringComparer.Ordinal)
                .Select(a => (JsonNode)new JsonObject { ["path"] = a.Path, ["sha256"] = a.Sha256, ["size"] = a.Size })
                .ToArray()),
        };
        return JsonSerializer.SerializeToUtf8Bytes(root, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Parses a manifest; throws <see cref="ManifestVerificationException"/> naming the bad field.</summary>
    public static ModelManifest Parse(ReadOnlySpan<byte> json)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new ManifestVerificationException($"manifest is not valid JSON ({ex.Message})");
        }
        if (node is not JsonObject root)
        {
            throw new ManifestVerificationException("manifest must be a JSON object");
        }

        var version = root["version"] switch
        {
            JsonValue v when v.TryGetValue<string>(out var s) && s.Length > 0 => s,
            JsonValue v when v.TryGetValue<long>(out var n) => n.ToString(CultureInfo.InvariantCulture),
            _ => throw new ManifestVerificationException("manifest field 'version' is missing or not a string"),
        };
        if (root["artifacts"] is not JsonArray artifacts)
        {
            throw new ManifestVerificationException("manifest field 'artifacts' is missing or not an array");
        }
        var list = new List<ManifestArtifact>(artifacts.Count);
        for (var i = 0; i < artifacts.Count; i++)
        {
            if (artifacts[i] is not JsonObject a
                || a["path"]?.GetValueKind() != JsonValueKind.String
                || a["sha256"]?.GetValueKind() != JsonValueKind.String)
            {
                throw new ManifestVerificationException($"manifest field 'artifacts[{i}]' needs string 'path' and 'sha256'");
            }
            var sha = a["sha256"]!.GetValue<string>();
            if (sha.Length != 64 || !sha.All(Uri.IsHexDigit))
            {
                throw new ManifestVerificationException($"manifest field 'artifacts[{i}].sha256' is not 64 hex digits");
            }
            var size = a["size"] is JsonValue sv && sv.TryGetValue<long>(out var sz) ? sz : -1;
            list.Add(new ManifestArtifact(a["path"]!.GetValue<string>(), sha.ToLowerInvariant(), size));
        }

        return new ModelManifest
        {
            Version = version,
            CreatedAt = OptionalString(root, "created_at"),
            Description = OptionalString(root, "description"),
            SignatureType = OptionalString(root, "signature_type") ?? ManifestSignatureTypes.None,
            Signature = OptionalString(root, "signature"),
            Metadata = root["metadata"] as JsonObject is { } m ? (JsonObject)m.DeepClone() : null,
            Artifacts = list,
        };
    }

    private static string? OptionalString(JsonObject root, string key) => root[key] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        _ => throw new ManifestVerificationException($"manifest field '{key}' must be a string"),
    };
}

public sealed record ManifestArtifact(string Path, string Sha256, long Size = -1);

public static class ManifestSignatureTypes
{
    public const string None = "none";
    public const string HmacSha256 = "hmac-sha256";
    public const string Ed25519 = "ed25519";
}

public sealed class ManifestVerificationException(string message) : Exception(message);

/// <summary>Signs and verifies manifest bytes with one key.</summary>
public interface IManifestSigner
{
    string SignatureType { get; }
    byte[] Sign(byte[] data);
    bool Verify(byte[] data, byte[] signature);
}

public sealed class HmacManifestSigner(string secret) : IManifestSigner
{
    private readonly byte[] _key = Encoding.UTF8.GetBytes(secret);

    public string SignatureType => ManifestSignatureTypes.HmacSha256;
    public byte[] Sign(byte[] data) => HMACSHA256.HashData(_key, data);
    public bool Verify(byte[] data, byte[] signature) => CryptographicOperations.FixedTimeEquals(Sign(data), signature);
    public override string ToString() => "hmac-sha256 (key redacted)";
}

/// <summary>
/// Ed25519 (libsodium through NSec). Keys: PEM (PKCS#8 private / SubjectPublicKeyInfo public),
/// or the raw 32 bytes, as a binary file or base64 text.
/// </summary>
public sealed class Ed25519ManifestSigner : IManifestSigner, IDisposable
{
    private static readonly NSec.Cryptography.SignatureAlgorithm Algorithm = NSec.Cryptography.SignatureAlgorithm.Ed25519;
    private readonly NSec.Cryptography.Key? _private;
    private readonly NSec.Cryptography.PublicKey _public;

    private Ed25519ManifestSigner(NSec.Cryptography.Key? privateKey, NSec.Cryptography.PublicKey publicKey)
    {
        _private = privateKey;
        _public = publicKey;
    }

    public string SignatureType => ManifestSignatureTypes.Ed25519;

    public byte[] PublicKeyBytes => _public.Export(NSec.Cryptography.KeyBlobFormat.RawPublicKey);

    public static Ed25519ManifestSigner Generate()
    {
        var key = NSec.Cryptography.Key.Create(Algorithm, new NSec.Cryptography.KeyCreationParameters { ExportPolicy = NSec.Cryptography.KeyExportPolicies.AllowPlaintextExport });
        return new Ed25519ManifestSigner(key, key.PublicKey);
    }

    public static Ed25519ManifestSigner FromPrivateKeyFile(string path) => FromPrivateKey(File.ReadAllBytes(path));

    public static Ed25519ManifestSigner FromPublicKeyFile(string path) => FromPublicKey(File.ReadAllBytes(path));

    public static Ed25519ManifestSigner FromPrivateKey(byte[] blob)
    {
        var key = TryImport(blob, b => ImportPrivate(b, NSec.Cryptography.KeyBlobFormat.PkixPrivateKeyText))
            ?? TryImport(Raw(blob), b => ImportPrivate(b, NSec.Cryptography.KeyBlobFormat.RawPrivateKey))
            ?? throw new ManifestVerificationException("the ed25519 private key is neither PEM (PKCS#8) nor 32 raw bytes");
        return new Ed25519ManifestSigner(key, key.PublicKey);
    }

    private static NSec.Cryptography.Key ImportPrivate(byte[] blob, NSec.Cryptography.KeyBlobFormat format)
    {
        var parameters = new NSec.Cryptography.KeyCreationParameters { ExportPolicy = NSec.Cryptography.KeyExportPolicies.AllowPlaintextExport };
        return NSec.Cryptography.Key.Import(Algorithm, blob, format, in parameters);
    }

    public static Ed25519ManifestSigner FromPublicKey(byte[] blob)
    {
        var key = TryImport(blob, b => NSec.Cryptography.PublicKey.Import(Algorithm, b, NSec.Cryptography.KeyBlobFormat.PkixPublicKeyText))
            ?? TryImport(Raw(blob), b => NSec.Cryptography.PublicKey.Import(Algorithm, b, NSec.Cryptography.KeyBlobFormat.RawPublicKey))
            ?? throw new ManifestVerificationException("the ed25519 public key is neither PEM (SubjectPublicKeyInfo) nor 32 raw bytes");
        return new Ed25519ManifestSigner(null, key);
    }

    public string ExportPrivateKeyPem() => Encoding.ASCII.GetString(
        (_private ?? throw new InvalidOperationException("no private key")).Export(NSec.Cryptography.KeyBlobFormat.PkixPrivateKeyText));

    public string ExportPublicKeyPem() => Encoding.ASCII.GetString(_public.Export(NSec.Cryptography.KeyBlobFormat.PkixPublicKeyText));

    public byte[] Sign(byte[] data) => Algorithm.Sign(_private ?? throw new InvalidOperationException("this ed25519 key can only verify"), data);

    public bool Verify(byte[] data, byte[] signature) => Algorithm.Verify(_public, data, signature);

    public void Dispose() => _private?.Dispose();

    public override string ToString() => "ed25519 (key redacted)";

    /// <summary>32 raw bytes, or base64 text of them.</summary>
    private static byte[] Raw(byte[] blob)
    {
        if (blob.Length == 32)
        {
            return blob;
        }
        try
        {
            return Convert.FromBase64String(Encoding.ASCII.GetString(blob).Trim());
        }
        catch (FormatException)
        {
            return blob;
        }
    }

    private static T? TryImport<T>(byte[] blob, Func<byte[], T> import) where T : class
    {
        try
        {
            return import(blob);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException)
        {
            return null;
        }
    }
}
