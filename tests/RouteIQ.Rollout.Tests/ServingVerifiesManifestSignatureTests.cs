using System.Security.Cryptography;
using System.Text.Json.Nodes;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>
/// The serving side checks signatures too: the router server rollout starts gets rollout's key
/// material, so a version whose bytes change in the store after the roll — file, hash trailer,
/// manifest sha256 and size all made consistent, only the signature left as it was — is never
/// served, and the refusal shows in /health and /metrics.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ServingVerifiesManifestSignatureTests
{
    private static readonly string[] Models = ["math-pro", "code-pro", "chat-lite"];

    private static byte[] TrainedRouterModel()
    {
        string[][] topics = [["integral", "equation", "theorem", "matrix"], ["python", "compile", "function", "bug"], ["weather", "movie", "joke", "travel"]];
        var samples = new List<RoutingSample>();
        for (var i = 0; i < 90; i++)
        {
            var t = i % 3;
            float[] scores = t switch { 0 => [1f, 0.2f, 0.1f], 1 => [0.3f, 1f, 0.1f], _ => [0.6f, 0.5f, 0.9f] };
            samples.Add(new RoutingSample($"{topics[t][i % 4]} {topics[t][(i / 3) % 4]} please {i}", scores));
        }
        var spec = new RouterSpec { RouterType = "knn", Seed = 7, Tfidf = new TfidfOptions { Dimension = 128 }, Knn = new KnnOptions { K = 5 } };
        using var model = spec.Train(new RoutingDataset(Models, [1.0, 0.8, 0.1], samples));
        var dir = TestInfra.TempDirectory("serving-verifies-model");
        return File.ReadAllBytes(model.Save(dir));
    }

    private static async Task<Guid> PublishTrainingAsync(RolloutTestHost host, string model, byte[] routerModel)
    {
        var job = Guid.NewGuid();
        using var stream = new MemoryStream(routerModel);
        var file = await host.Store.PutAsync(ArtifactKeys.RunOutput(job) + RouterModel.FileName, stream);
        await host.Bus.Publish(new TrainCompleted
        {
            JobId = job,
            Trainer = "test-trainer",
            Node = "test",
            WorkloadName = $"routeiq-train-test-{job:N}",
            ModelName = model,
            OutputUri = host.Store.GetUri(ArtifactKeys.RunOutput(job)),
            Files = [file with { Path = RouterModel.FileName }],
            Metrics = new Dictionary<string, double>(),
            CompletedAt = DateTimeOffset.UtcNow,
        });
        return job;
    }

    private static async Task<byte[]> ReadAsync(IArtifactStore store, string key)
    {
        await using var stream = await store.OpenReadAsync(key);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    [Theory]
    [InlineData("hmac")]
    [InlineData("ed25519")]
    public async Task A_registry_file_tampered_after_the_roll_is_never_served_and_health_and_metrics_report_it(string keyKind)
    {
        var settings = await RolloutTestHost.SettingsAsync("serve-verify");
        if (keyKind == "hmac")
        {
            settings["RouteIQ:Rollout:Signing:HmacKey"] = "serving-verify-" + Guid.NewGuid().ToString("N");
        }
        else
        {
            using var key = Ed25519ManifestSigner.Generate();
            var keyFile = Path.Combine(TestInfra.TempDirectory("serve-verify-ed"), "signing.pem");
            await File.WriteAllTextAsync(keyFile, key.ExportPrivateKeyPem());
            settings["RouteIQ:Rollout:Signing:Ed25519PrivateKeyPath"] = keyFile;
        }
        settings["RouteIQ:Rollout:ServeEnvironment:RELOAD_INTERVAL_SECONDS"] = "0.2";
        settings["RouteIQ:Rollout:ServeEnvironment:MODEL_CACHE_DIR"] = TestInfra.TempDirectory("serve-verify-cache");
        await using var host = await RolloutTestHost.StartAsync(settings);

        const string model = "verified";
        var version = await host.WaitRegisteredAsync(await PublishTrainingAsync(host, model, TrainedRouterModel()));
        var rolled = RolloutTestHost.Succeeded(await host.RollAsync(model, version.ToString(), serveImage: "routeiq/router-server", waitReadySeconds: 60));
        using var server = new HttpClient { BaseAddress = new Uri(rolled.ServerUrl!), Timeout = TimeSpan.FromSeconds(10) };
        var before = JsonNode.Parse(await server.GetStringAsync("/health"))!;
        Assert.Equal(keyKind == "hmac" ? ManifestSignatureTypes.HmacSha256 : ManifestSignatureTypes.Ed25519, before["manifest_verification"]!.GetValue<string>());
        var loadedAt = before["loaded_at"]!.GetValue<string>();

        // Flip a byte of the served version's model file, recompute its (unkeyed) hash trailer,
        // and make the manifest's sha256 and size match the new bytes.
        var prefix = ArtifactKeys.RegistryVersion(model, version);
        var bytes = await ReadAsync(host.Store, prefix + RouterModel.FileName);
        var body = bytes.AsSpan(0, bytes.Length - 32);
        body[^1] ^= 0x5A;
        SHA256.HashData(body).CopyTo(bytes.AsSpan(bytes.Length - 32));
        var manifest = ModelManifest.Parse(await ReadAsync(host.Store, prefix + ModelManifest.FileName));
        var tampered = manifest with
        {
            Artifacts = manifest.Artifacts.Select(a => a.Path == RouterModel.FileName
                ? a with { Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)), Size = bytes.Length }
                : a).ToList(),
        };
        using (var file = new MemoryStream(bytes))
        {
            await host.Store.PutAsync(prefix + RouterModel.FileName, file);
        }
        using (var json = new MemoryStream(tampered.ToJsonBytes()))
        {
            await host.Store.PutAsync(prefix + ModelManifest.FileName, json);
        }

        JsonNode health = before;
        await TestInfra.WaitUntilAsync(async () =>
        {
            health = JsonNode.Parse(await server.GetStringAsync("/health"))!;
            return health["last_error"] is not null || health["loaded_at"]!.GetValue<string>() != loadedAt;
        }, TimeSpan.FromSeconds(30), "the router server to look at the changed version");

        Assert.Equal("verification_failed", health["last_load"]!.GetValue<string>());
        Assert.Contains("signature does not match", health["last_error"]!.GetValue<string>());
        Assert.Equal(loadedAt, health["loaded_at"]!.GetValue<string>());
        Assert.Equal("ready", health["status"]!.GetValue<string>());
        var metrics = await server.GetStringAsync("/metrics");
        Assert.Contains("routeiq_router_model_reloads_total 1\n", metrics);
        Assert.Contains("routeiq_router_manifest_verification_failures_total 1\n", metrics);
        Assert.Contains("routeiq_router_model_last_load_failed 1\n", metrics);
        // The stable endpoint still answers from the version loaded before the change.
        using var answer = await host.Http.PostAsync($"/{model}/invocations",
            new StringContent("{\"query\":\"solve the integral equation\"}", System.Text.Encoding.UTF8, "application/json"));
        answer.EnsureSuccessStatusCode();
    }
}
