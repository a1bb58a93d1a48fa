using System.Text;
using System.Text.Json.Nodes;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

[Trait("Category", "Integration")]
public sealed class HmacRolloutFixture : IAsyncLifetime
{
    public const string Key = "rollout-test-hmac-key";

    public RolloutTestHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var settings = await RolloutTestHost.SettingsAsync("rollout-sign");
        settings["RouteIQ:Rollout:Signing:HmacKey"] = Key;
        Host = await RolloutTestHost.StartAsync(settings);
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Signed manifests: what registration writes, and what a roll refuses.</summary>
[Trait("Category", "Integration")]
public sealed class ManifestSigningTests(HmacRolloutFixture fixture) : IClassFixture<HmacRolloutFixture>
{
    private RolloutTestHost Host => fixture.Host;

    [Fact]
    public void Signing_bytes_and_hmac_match_the_fixed_test_vector()
    {
        // Expected values computed independently with Python:
        // json.dumps({...}, sort_keys=True, separators=(",", ":")) and hmac.new(b"test-secret", ..., sha256).
        var manifest = new ModelManifest
        {
            Version = "7",
            CreatedAt = "2026-11-23T10:00:00Z",
            Description = "knn-router v7 \u2013 r\u00e9sum\u00e9",
            Metadata = new JsonObject { ["model"] = "knn-router" },
            Artifacts = [new ManifestArtifact("weights/b.bin", new string('b', 64)), new ManifestArtifact("model.json", new string('a', 64))],
        };

        const string expected = "{\"artifacts\":[{\"path\":\"model.json\",\"sha256\":\"" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            + "\"},{\"path\":\"weights/b.bin\",\"sha256\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}],"
            + "\"created_at\":\"2026-11-23T10:00:00Z\",\"description\":\"knn-router v7 \\u2013 r\\u00e9sum\\u00e9\",\"version\":\"7\"}";
        Assert.Equal(expected, Encoding.UTF8.GetString(manifest.SigningBytes()));
        Assert.Equal("ObQs8UwKEPghnKq2VDg6+fdolFxSNRs5+MPBwqt0ouY=", manifest.Sign(new HmacManifestSigner("test-secret")).Signature);
    }

    private async Task<int> RegisterAsync(string model, string content)
    {
        var job = await Host.CompleteTrainingAsync(model, content, serveCommand: TestServer.ProcessCommand());
        return await Host.WaitRegisteredAsync(job);
    }

    private async Task<byte[]> ReadAsync(string key)
    {
        await using var stream = await Host.Store.OpenReadAsync(key);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private async Task WriteAsync(string key, byte[] content)
    {
        using var stream = new MemoryStream(content);
        await Host.Store.PutAsync(key, stream);
    }

    [Fact]
    public async Task Registered_manifests_are_hmac_signed_over_the_canonical_bytes_of_their_files()
    {
        var version = await RegisterAsync("signed", "{\"w\":[1,2,3]}");
        var prefix = ArtifactKeys.RegistryVersion("signed", version);
        var manifest = ModelManifest.Parse(await ReadAsync(prefix + ModelManifest.FileName));

        Assert.Equal(ManifestSignatureTypes.HmacSha256, manifest.SignatureType);
        var modelSha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("{\"w\":[1,2,3]}"u8));
        var weightsSha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes("weights of {\"w\":[1,2,3]}")));
        var canonical = $"{{\"artifacts\":[{{\"path\":\"model.json\",\"sha256\":\"{modelSha}\"}},{{\"path\":\"weights/part-0.bin\",\"sha256\":\"{weightsSha}\"}}],"
            + $"\"created_at\":\"{manifest.CreatedAt}\",\"description\":\"signed v{version}\",\"version\":\"{version}\"}}";
        Assert.Equal(canonical, Encoding.UTF8.GetString(manifest.SigningBytes()));
        var mac = System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(HmacRolloutFixture.Key), Encoding.UTF8.GetBytes(canonical));
        Assert.Equal(Convert.ToBase64String(mac), manifest.Signature);
        Assert.Matches("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z$", manifest.CreatedAt);
    }

    [Fact]
    public async Task A_tampered_file_a_tampered_signature_and_an_unsigned_manifest_are_refused_and_the_old_version_keeps_serving()
    {
        const string model = "tamper";
        await RegisterAsync(model, "{\"v\":1}");
        var ok = await Host.RollAsync(model, "1");
        RolloutTestHost.Succeeded(ok);

        // A file changed after registration.
        var v2 = await RegisterAsync(model, "{\"v\":2}");
        await WriteAsync(ArtifactKeys.RegistryVersion(model, v2) + "model.json", "{\"v\":666}"u8.ToArray());
        var tamperedFile = Assert.IsType<RollFailed>(await Host.RollAsync(model, v2.ToString()));
        Assert.Equal(422, tamperedFile.StatusCode);
        Assert.Contains("model.json has sha256", tamperedFile.Reason);

        // The signature no longer matches the manifest's content.
        var v3 = await RegisterAsync(model, "{\"v\":3}");
        var manifestKey = ArtifactKeys.RegistryVersion(model, v3) + ModelManifest.FileName;
        var manifest = ModelManifest.Parse(await ReadAsync(manifestKey));
        await WriteAsync(manifestKey, (manifest with { Description = "something else" }).ToJsonBytes());
        var tamperedSignature = Assert.IsType<RollFailed>(await Host.RollAsync(model, v3.ToString()));
        Assert.Equal(422, tamperedSignature.StatusCode);
        Assert.Contains("signature does not match", tamperedSignature.Reason);

        // An unsigned manifest while a key is configured.
        var v4 = await RegisterAsync(model, "{\"v\":4}");
        manifestKey = ArtifactKeys.RegistryVersion(model, v4) + ModelManifest.FileName;
        manifest = ModelManifest.Parse(await ReadAsync(manifestKey));
        await WriteAsync(manifestKey, (manifest with { SignatureType = ManifestSignatureTypes.None, Signature = null }).ToJsonBytes());
        var unsigned = Assert.IsType<RollFailed>(await Host.RollAsync(model, v4.ToString()));
        Assert.Equal(422, unsigned.StatusCode);
        Assert.Contains("unsigned", unsigned.Reason);

        Assert.Equal(1, await Host.InvokeAsync(model));
        var published = ModelManifest.Parse(await ReadAsync(ArtifactKeys.PublishedModel(model) + ModelManifest.FileName));
        Assert.Equal("1", published.Version);
        published.VerifySignature(new HmacManifestSigner(HmacRolloutFixture.Key));
        Assert.Single(ServingProcesses.Ports(model));
    }

    [Fact]
    public async Task With_an_ed25519_key_registered_manifests_verify_with_the_public_key()
    {
        using var key = Ed25519ManifestSigner.Generate();
        var keyFile = Path.Combine(TestInfra.TempDirectory("rollout-ed25519"), "signing.pem");
        await File.WriteAllTextAsync(keyFile, key.ExportPrivateKeyPem());
        var settings = await RolloutTestHost.SettingsAsync("rollout-ed");
        settings["RouteIQ:Rollout:Signing:Ed25519PrivateKeyPath"] = keyFile;
        await using var host = await RolloutTestHost.StartAsync(settings);

        var job = await host.CompleteTrainingAsync("ed", "{\"e\":1}");
        var version = await host.WaitRegisteredAsync(job);
        await using var stream = await host.Store.OpenReadAsync(ArtifactKeys.RegistryVersion("ed", version) + ModelManifest.FileName);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        var manifest = ModelManifest.Parse(buffer.ToArray());

        Assert.Equal(ManifestSignatureTypes.Ed25519, manifest.SignatureType);
        using var verifier = Ed25519ManifestSigner.FromPublicKey(Encoding.ASCII.GetBytes(key.ExportPublicKeyPem()));
        manifest.VerifySignature(verifier);
        var forged = manifest with { Version = "99" };
        Assert.Throws<ManifestVerificationException>(() => forged.VerifySignature(verifier));
    }
}
