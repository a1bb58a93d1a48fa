using System.Collections;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using RouteIQ.RouterServer;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

/// <summary>An exploring router reports the probability of what it chose, deterministically per request id.</summary>
public sealed class ExplorationPropensityTests
{
    private static readonly float[] Scores = [0.9f, 0.5f, 0.1f];
    private static readonly double[] Prices = [1, 1, 1];

    [Theory]
    [InlineData("epsilon:0.3")]
    [InlineData("softmax:0.2")]
    public void Reported_probabilities_match_the_observed_frequencies_and_repeat_per_request_id(string setting)
    {
        var policy = ExplorationPolicy.Parse(setting);
        var expected = policy.Probabilities(Scores, Prices, 0);
        Assert.Equal(1.0, expected.Sum(), 9);
        var counts = new int[3];
        const int n = 30_000;
        for (var i = 0; i < n; i++)
        {
            var id = $"req-{i}";
            var c = policy.Choose(Scores, Prices, 0, id);
            Assert.Equal(c, policy.Choose(Scores, Prices, 0, id));
            Assert.Equal(expected[c.ModelIndex], c.Probability, 12);
            Assert.InRange(c.Probability, double.Epsilon, 1);
            counts[c.ModelIndex]++;
        }
        for (var m = 0; m < 3; m++)
        {
            Assert.True(Math.Abs(counts[m] / (double)n - expected[m]) < 0.015, $"model {m}: {counts[m] / (double)n} vs {expected[m]}");
        }
    }

    [Fact]
    public void Uniform_draws_of_epsilon_say_so_and_none_always_picks_the_favourite_at_probability_one()
    {
        var policy = ExplorationPolicy.Parse("epsilon:1");
        var reasons = Enumerable.Range(0, 200).Select(i => policy.Choose(Scores, Prices, 0, $"r{i}").Reason).Distinct().ToList();
        Assert.Equal([ExplorationPolicy.ReasonUniform], reasons);
        var none = ExplorationPolicy.Parse(null).Choose(Scores, Prices, 0, "r1");
        Assert.Equal(new ExplorationChoice(0, 1, ExplorationPolicy.ReasonGreedy), none);
    }

    [Theory]
    [InlineData("epsilon:1.5")]
    [InlineData("softmax:0")]
    [InlineData("greedy")]
    [InlineData("epsilon")]
    public void A_bad_exploration_setting_is_refused_at_start_naming_it(string value)
    {
        var ex = Assert.Throws<ServerConfigurationException>(() => ServerSettings.FromEnvironment(new Hashtable { ["SERVE_MODEL_URI"] = "/tmp/x", ["EXPLORATION"] = value }));
        Assert.Equal("EXPLORATION", ex.Key);
        Assert.StartsWith("EXPLORATION: ", ex.Message);
    }

    [Fact]
    public async Task The_server_returns_selection_probability_per_decision_deterministic_per_request_id()
    {
        var dir = TestInfra.TempDirectory("router-explore");
        using (var trained = SyntheticData.Spec("knn").Train(SyntheticData.Dataset(150, 61)))
        {
            trained.Save(dir);
        }
        var port = TestInfra.FreePort();
        var app = RouterServerApp.Build(new ServerSettings
        {
            ModelUri = dir,
            Host = "127.0.0.1",
            Port = port,
            ReloadInterval = TimeSpan.FromMilliseconds(200),
            CacheDirectory = TestInfra.TempDirectory("router-explore-cache"),
            Exploration = ExplorationPolicy.Parse("epsilon:0.5"),
        });
        await app.StartAsync();
        await using var _ = app;
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await TestInfra.WaitUntilAsync(async () => (await http.GetAsync("/ping")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "router server /ping");

        async Task<JsonObject> Post(object body)
        {
            var response = await http.PostAsJsonAsync("/invocations", body);
            response.EnsureSuccessStatusCode();
            return (JsonObject)JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        }

        var seen = new HashSet<string>();
        for (var i = 0; i < 40; i++)
        {
            var a = await Post(new { query = "solve the integral equation theorem", request_id = $"id-{i}" });
            var b = await Post(new { query = "solve the integral equation theorem", request_id = $"id-{i}" });
            Assert.Equal(a["model"]!.GetValue<string>(), b["model"]!.GetValue<string>());
            var p = a["selection_probability"]!.GetValue<double>();
            var reason = a["selection_reason"]!.GetValue<string>();
            // ε = 0.5 over 3 models: the favourite has 0.5 + 0.5/3, any other model 0.5/3.
            Assert.Equal(a["model"]!.GetValue<string>() == "math-pro" ? 0.5 + 0.5 / 3 : 0.5 / 3, p, 9);
            Assert.Contains(reason, new[] { ExplorationPolicy.ReasonGreedy, ExplorationPolicy.ReasonUniform });
            seen.Add(a["model"]!.GetValue<string>());
        }
        Assert.True(seen.Count >= 2, "ε = 0.5 over 40 requests explored nothing");

        var batch = await Post(new { queries = new[] { "python function bug", "hello weather" }, request_ids = new[] { "b-1", "b-2" } });
        Assert.All(batch["results"]!.AsArray(), r => Assert.InRange(r!["selection_probability"]!.GetValue<double>(), 1e-9, 1));

        var bad = await http.PostAsJsonAsync("/invocations", new { query = "hello", request_id = 5 });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("request_id", JsonNode.Parse(await bad.Content.ReadAsStringAsync())!["field"]!.GetValue<string>());
        var health = JsonNode.Parse(await http.GetStringAsync("/health"))!;
        Assert.Equal("epsilon:0.5", health["exploration"]!.GetValue<string>());
    }
}
