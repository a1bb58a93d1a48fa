using System.Text;
using RouteIQ.Artifacts;

namespace RouteIQ.Foundation.Tests;

public sealed class ModelManifestTests
{
    private static ModelManifest Sample() => new()
    {
        Version = "7",
        CreatedAt = "2026-11-23T10:00:00Z",
        Description = "knn-router v7 \u2014 caf\u00e9 \"q\" \U0001F600",
        Artifacts = [new ManifestArtifact("z.bin", new string('b', 64)), new ManifestArtifact("model.json", new string('a', 64))],
    };

    // Expected values computed with Python: json.dumps(d, sort_keys=True, separators=(",", ":"))
    // and base64(hmac.new(b"secret", s.encode(), sha256).digest()).
    [Fact]
    public void SigningBytesMatchPythonCanonicalJson()
    {
        var expected = "{\"artifacts\":[{\"path\":\"model.json\",\"sha256\":\"" + new string('a', 64) + "\"},{\"path\":\"z.bin\",\"sha256\":\""
            + new string('b', 64) + "\"}],\"created_at\":\"2026-11-23T10:00:00Z\",\"description\":\"knn-router v7 \\u2014 caf\\u00e9 \\\"q\\\" \\ud83d\\ude00\",\"version\":\"7\"}";
        Assert.Equal(expected, Encoding.UTF8.GetString(Sample().SigningBytes()));
    }

    [Fact]
    public void HmacSignatureMatchesTestVector()
    {
        var signed = Sample().Sign(new HmacManifestSigner("secret"));
        Assert.Equal("hmac-sha256", signed.SignatureType);
        Assert.Equal("/DRggEsj1wuzKjBWCVfhsqKuviuVfo5IVJV/jV1QQiA=", signed.Signature);
    }

    [Fact]
    public void EmptyCreatedAtAndDescriptionAreLeftOut()
    {
        var m = Sample() with { CreatedAt = "", Description = null };
        Assert.DoesNotContain("created_at", Encoding.UTF8.GetString(m.SigningBytes()));
        Assert.DoesNotContain("description", Encoding.UTF8.GetString(m.SigningBytes()));
    }

    [Fact]
    public void RoundTripsAndVerifiesBothKeyTypes()
    {
        using var ed = Ed25519ManifestSigner.Generate();
        foreach (IManifestSigner signer in new IManifestSigner[] { new HmacManifestSigner("k1"), ed })
        {
            var parsed = ModelManifest.Parse(Sample().Sign(signer).ToJsonBytes());
            parsed.VerifySignature(signer);
            var tampered = parsed with { Version = "8" };
            Assert.Throws<ManifestVerificationException>(() => tampered.VerifySignature(signer));
        }
        using var publicOnly = Ed25519ManifestSigner.FromPublicKey(Encoding.ASCII.GetBytes(ed.ExportPublicKeyPem()));
        ModelManifest.Parse(Sample().Sign(ed).ToJsonBytes()).VerifySignature(publicOnly);
    }

    [Fact]
    public void UnsignedManifestIsRefusedWhenAKeyIsConfigured()
    {
        var ex = Assert.Throws<ManifestVerificationException>(() => Sample().VerifySignature(new HmacManifestSigner("k")));
        Assert.Contains("unsigned", ex.Message);
        Sample().VerifySignature(null);
    }

    [Fact]
    public void WrongKeyOrSignatureTypeIsRefused()
    {
        var signed = Sample().Sign(new HmacManifestSigner("right"));
        Assert.Throws<ManifestVerificationException>(() => signed.VerifySignature(new HmacManifestSigner("wrong")));
        using var ed = Ed25519ManifestSigner.Generate();
        Assert.Throws<ManifestVerificationException>(() => signed.VerifySignature(ed));
    }

    [Fact]
    public async Task TamperedFileIsDetected()
    {
        var dir = RouteIQ.Testing.TestInfra.TempDirectory("manifest");
        var store = new FileArtifactStore(dir);
        var file = await store.PutAsync("v/model.json", new MemoryStream("{\"k\":1}"u8.ToArray()));
        var manifest = new ModelManifest { Version = "1", Artifacts = [new ManifestArtifact("model.json", file.Sha256, file.Size)] };
        await manifest.VerifyFilesAsync((p, ct) => store.OpenReadAsync("v/" + p, ct));

        await File.WriteAllTextAsync(store.GetPath("v/model.json"), "{\"k\":2}");
        var ex = await Assert.ThrowsAsync<ManifestVerificationException>(() => manifest.VerifyFilesAsync((p, ct) => store.OpenReadAsync("v/" + p, ct)));
        Assert.Contains("model.json", ex.Message);

        File.Delete(store.GetPath("v/model.json"));
        ex = await Assert.ThrowsAsync<ManifestVerificationException>(() => manifest.VerifyFilesAsync((p, ct) => store.OpenReadAsync("v/" + p, ct)));
        Assert.Contains("missing", ex.Message);
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("[]", "JSON object")]
    [InlineData("{\"artifacts\":[]}", "'version'")]
    [InlineData("{\"version\":\"1\"}", "'artifacts'")]
    [InlineData("{\"version\":\"1\",\"artifacts\":[{\"path\":\"a\",\"sha256\":\"xyz\"}]}", "artifacts[0].sha256")]
    public void MalformedManifestNamesTheField(string json, string expected)
    {
        var ex = Assert.Throws<ManifestVerificationException>(() => ModelManifest.Parse(Encoding.UTF8.GetBytes(json)));
        Assert.Contains(expected, ex.Message);
    }
}
