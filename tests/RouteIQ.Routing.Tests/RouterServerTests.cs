using System.Net;
using Microsoft.AspNetCore.Builder;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using RouteIQ.Artifacts;
using RouteIQ.RouterServer;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

[Trait("Category", "Integration")]
public sealed class RouterServerTests
{
    private const string MathQuery = "solve the integral equation theorem";

    private static void WriteModel(string dir, ulong dataSeed, string? chatOverride = null)
    {
        var data = SyntheticData.Dataset(150, dataSeed);
        if (chatOverride is not null)
        {
            // A second version that sends math queries elsewhere, so answers show which version served them.
            data = data.WithSamples(data.Samples.Select(s => s.Scores[0] == 1f ? new RoutingSample(s.Query, [0.1f, 1f, 0.1f]) : s).ToList());
        }
        using var model = SyntheticData.Spec("knn").Train(data);
        model.Save(dir);
    }

    private static void WriteManifest(string dir, string version, IManifestSigner? signer, string? sha256 = null)
    {
        var hash = sha256 ?? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, RouterModel.FileName))));
        var manifest = new ModelManifest { Version = version, Description = $"knn-router v{version}", Artifacts = [new ManifestArtifact(RouterModel.FileName, hash)] };
        File.WriteAllBytes(Path.Combine(dir, ModelManifest.FileName), (signer is null ? manifest : manifest.Sign(signer)).ToJsonBytes());
    }

    private static async Task<(WebApplication App, HttpClient Http)> Start(string modelDir, string? hmacKey = null)
    {
        var port = TestInfra.FreePort();
        var app = RouterServerApp.Build(new ServerSettings
        {
            ModelUri = modelDir,
            Host = "127.0.0.1",
            Port = port,
            ReloadInterval = TimeSpan.FromMilliseconds(200),
            CacheDirectory = TestInfra.TempDirectory("router-server-cache"),
            HmacKey = hmacKey,
        });
        await app.StartAsync();
        return (app, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) });
    }

    private static Task WaitReady(HttpClient http) => TestInfra.WaitUntilAsync(
        async () => (await http.GetAsync("/ping")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "router server /ping");

    /// <summary>/health answers 503 while no model is loaded; its body says why either way.</summary>
    private static async Task<JsonNode> Health(HttpClient http) =>
        JsonNode.Parse(await (await http.GetAsync("/health")).Content.ReadAsStringAsync())!;

    private static async Task<JsonObject> Invoke(HttpClient http, object body)
    {
        var response = await http.PostAsJsonAsync("/invocations", body);
        response.EnsureSuccessStatusCode();
        return (JsonObject)JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    [Fact]
    public async Task Serves_single_and_batch_invocations_with_scores_prices_and_metrics()
    {
        var dir = TestInfra.TempDirectory("router-server");
        WriteModel(dir, 61);
        var (app, http) = await Start(dir);
        await using var _ = app;
        await WaitReady(http);

        var single = await Invoke(http, new { query = MathQuery });
        Assert.Equal("math-pro", single["model"]!.GetValue<string>());
        Assert.Equal(1.0, single["price"]!.GetValue<double>());
        Assert.Equal(3, single["scores"]!.AsObject().Count);
        Assert.True(single["scores"]!["math-pro"]!.GetValue<double>() > single["scores"]!["chat-lite"]!.GetValue<double>());
        Assert.Null(single["model_version"]);

        var batch = await Invoke(http, new { queries = new[] { MathQuery, "python function compile bug", "tell me a joke about the weather" } });
        Assert.Equal(["math-pro", "code-pro", "chat-lite"], batch["results"]!.AsArray().Select(r => r!["model"]!.GetValue<string>()));

        var cheap = await Invoke(http, new { query = MathQuery, cost_weight = 5 });
        Assert.Equal("chat-lite", cheap["model"]!.GetValue<string>());

        var health = (await Health(http));
        Assert.Equal("ready", health["status"]!.GetValue<string>());
        Assert.Equal("knn", health["router_type"]!.GetValue<string>());

        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("routeiq_router_requests_total{path=\"/invocations\",status=\"200\"} 3", metrics);
        Assert.Contains("routeiq_router_queries_total 5", metrics);
        Assert.Contains("routeiq_router_request_duration_seconds_count 3", metrics);
    }

    [Theory]
    [InlineData("{", "body")]
    [InlineData("[1]", "body")]
    [InlineData("{}", "query")]
    [InlineData("{\"query\": 7}", "query")]
    [InlineData("{\"query\": \"   \"}", "query")]
    [InlineData("{\"queries\": []}", "queries")]
    [InlineData("{\"queries\": [\"ok\", 3]}", "queries[1]")]
    [InlineData("{\"query\": \"x\", \"cost_weight\": -1}", "cost_weight")]
    public async Task Bad_requests_get_400_naming_the_field(string body, string field)
    {
        var dir = TestInfra.TempDirectory("router-server-bad");
        WriteModel(dir, 62);
        var (app, http) = await Start(dir);
        await using var _ = app;
        await WaitReady(http);

        var response = await http.PostAsync("/invocations", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(field, error["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_signed_manifest_is_verified_and_its_version_reported()
    {
        var dir = TestInfra.TempDirectory("router-server-signed");
        WriteModel(dir, 63);
        WriteManifest(dir, "4", new HmacManifestSigner("test-key-1"));
        var (app, http) = await Start(dir, hmacKey: "test-key-1");
        await using var _ = app;
        await WaitReady(http);

        Assert.Equal("4", (await Invoke(http, new { query = MathQuery }))["model_version"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("wrong-key", true, "signature does not match")]
    [InlineData(null, false, "unsigned")]
    public async Task A_manifest_failing_verification_is_never_served(string? signingKey, bool signed, string expected)
    {
        var dir = TestInfra.TempDirectory("router-server-refused");
        WriteModel(dir, 64);
        WriteManifest(dir, "1", signed ? new HmacManifestSigner(signingKey!) : null);
        var (app, http) = await Start(dir, hmacKey: "the-real-key");
        await using var _ = app;

        await TestInfra.WaitUntilAsync(async () => (await Health(http))["last_error"] is not null, TimeSpan.FromSeconds(30), "a load error");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/ping")).StatusCode);
        Assert.Contains(expected, (await Health(http))["last_error"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.PostAsJsonAsync("/invocations", new { query = "x" })).StatusCode);
    }

    [Fact]
    public async Task Rolling_out_a_new_version_switches_answers_without_failing_a_request_and_a_corrupt_one_is_refused()
    {
        var dir = TestInfra.TempDirectory("router-server-reload");
        WriteModel(dir, 65);
        WriteManifest(dir, "1", null);
        var (app, http) = await Start(dir);
        await using var _ = app;
        await WaitReady(http);
        Assert.Equal("math-pro", (await Invoke(http, new { query = MathQuery }))["model"]!.GetValue<string>());

        using var stop = new CancellationTokenSource();
        var failures = 0;
        var answered = 0;
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var response = await http.PostAsJsonAsync("/invocations", new { query = MathQuery });
                if (response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref answered);
                }
                else
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        // Rollout order: model files first, manifest.json last (the commit point).
        var staging = TestInfra.TempDirectory("router-server-v2");
        WriteModel(staging, 66, chatOverride: "code");
        File.Copy(Path.Combine(staging, RouterModel.FileName), Path.Combine(dir, RouterModel.FileName), overwrite: true);
        WriteManifest(dir, "2", null);
        await TestInfra.WaitUntilAsync(async () => (await Invoke(http, new { query = MathQuery }))["model_version"]!.GetValue<string>() == "2", TimeSpan.FromSeconds(30), "version 2");
        Assert.Equal("code-pro", (await Invoke(http, new { query = MathQuery }))["model"]!.GetValue<string>());

        // A version whose file does not match its manifest: refused, version 2 keeps serving.
        WriteManifest(dir, "3", null, sha256: new string('0', 64));
        await TestInfra.WaitUntilAsync(async () => (await Health(http))["last_error"] is not null, TimeSpan.FromSeconds(30), "the refusal of version 3");
        await stop.CancelAsync();
        await load;

        Assert.Contains("sha256", (await Health(http))["last_error"]!.GetValue<string>());
        Assert.Equal("2", (await Invoke(http, new { query = MathQuery }))["model_version"]!.GetValue<string>());
        Assert.Equal(0, failures);
        Assert.True(answered > 10, $"only {answered} requests ran during the rollout");
    }
}
