using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using RouteIQ.Artifacts;
using RouteIQ.Routing;
using RouteIQ.Testing;
using Xunit.Abstractions;

namespace RouteIQ.Routing.Tests;

/// <summary>
/// <c>POST /admin/evaluations</c>'s engine: a registered router version, verified like serving
/// verifies it, scored off-policy on a dataset's logged decisions, the result stored next to the version.
/// </summary>
public sealed class RegisteredRouterEvaluationTests(ITestOutputHelper output)
{
    private const string Key = "evaluation-test-hmac-key-0123456789";

    private static async Task<(IArtifactStore Store, double Truth)> Registry(bool sign = true, ulong seed = 3)
    {
        var root = TestInfra.TempDirectory("evaluations");
        var store = ArtifactStoreFactory.Open("file://" + root + "/");
        var modelDir = TestInfra.TempDirectory("evaluations-model");
        using (var trained = SyntheticData.Spec("knn").Train(SyntheticData.Dataset(300, 17)))
        {
            trained.Save(modelDir);
        }
        var bytes = File.ReadAllBytes(Path.Combine(modelDir, RouterModel.FileName));
        await store.PutAsync("registry/router/1/" + RouterModel.FileName, new MemoryStream(bytes));
        var manifest = new ModelManifest { Version = "1", Description = "knn", Artifacts = [new ManifestArtifact(RouterModel.FileName, Convert.ToHexStringLower(SHA256.HashData(bytes)))] };
        await store.PutAsync("registry/router/1/" + ModelManifest.FileName, new MemoryStream((sign ? manifest.Sign(new HmacManifestSigner(Key)) : manifest).ToJsonBytes()));

        // Logged by a policy that favours chat-lite (ε = 0.6 uniform otherwise); labels are the true scores.
        using var router = RouterModel.Load(modelDir);
        var rng = new SeededRandom(seed);
        var lines = new StringBuilder();
        double truth = 0;
        const int n = 3000;
        for (var i = 0; i < n; i++)
        {
            var (q, topic) = SyntheticData.Query(rng);
            var chosen = rng.NextDouble() < 0.6 ? rng.Next(3) : 2;
            var p = chosen == 2 ? 0.4 + 0.6 / 3 : 0.6 / 3;
            var scores = SyntheticData.Scores(topic);
            lines.AppendLine(JsonSerializer.Serialize(new { query = q, model_name = SyntheticData.Models[chosen], performance = scores[chosen], propensity = p, label_source = "feedback:judge" }));
            truth += scores[router.Route(q).ModelIndex];
        }
        await store.PutAsync("datasets/logged/routing_test.jsonl", new MemoryStream(Encoding.UTF8.GetBytes(lines.ToString())));
        return (store, truth / n);
    }

    [Fact]
    public async Task A_verified_version_is_scored_off_policy_and_the_result_is_stored_next_to_it()
    {
        var (store, truth) = await Registry();
        var result = await RegisteredRouterEvaluation.RunAsync(store, new HmacManifestSigner(Key), "router", 1, "logged", "test", "e1", DateTimeOffset.UnixEpoch, CancellationToken.None);
        output.WriteLine(result.ToJsonString());
        Assert.Equal(3000, result["n"]!.GetValue<int>());
        Assert.Equal(3000, result["graded"]!.GetValue<int>());
        var dr = result["dr"]!;
        Assert.True(Math.Abs(dr["value"]!.GetValue<double>() - truth) <= 0.03, $"DR {dr} vs truth {truth}");
        Assert.True(dr["ci_low"]!.GetValue<double>() <= truth && truth <= dr["ci_high"]!.GetValue<double>());
        foreach (var estimator in new[] { "ips", "snips" })
        {
            Assert.True(Math.Abs(result[estimator]!["value"]!.GetValue<double>() - truth) < 0.06, $"{estimator} {result[estimator]}");
        }
        // The router beats the logging policy, and OPE says so.
        Assert.True(result["logging_policy_mean"]!.GetValue<double>() < dr["value"]!.GetValue<double>() - 0.1);
        Assert.InRange(result["matched"]!.GetValue<int>(), 300, 2700);
        Assert.True(await store.ExistsAsync("registry/router/1/evaluations/e1.json"));
        var listed = await RegisteredRouterEvaluation.ListAsync(store, "router", 1, CancellationToken.None);
        Assert.Equal("e1", Assert.Single(listed)!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_version_that_fails_verification_is_refused_and_nothing_is_stored()
    {
        var (store, _) = await Registry();
        var wrongKey = await Assert.ThrowsAsync<EvaluationException>(() =>
            RegisteredRouterEvaluation.RunAsync(store, new HmacManifestSigner("another-key-another-key-another-key"), "router", 1, "logged", "test", "e2", DateTimeOffset.UnixEpoch, CancellationToken.None));
        Assert.Equal((409, "version"), (wrongKey.Status, wrongKey.Field));

        var (unsigned, _) = await Registry(sign: false);
        var unsignedError = await Assert.ThrowsAsync<EvaluationException>(() =>
            RegisteredRouterEvaluation.RunAsync(unsigned, new HmacManifestSigner(Key), "router", 1, "logged", "test", "e3", DateTimeOffset.UnixEpoch, CancellationToken.None));
        Assert.Equal(409, unsignedError.Status);

        // A router file swapped after signing fails its hash.
        await store.PutAsync("registry/router/1/" + RouterModel.FileName, new MemoryStream(new byte[] { 1, 2, 3 }));
        var tampered = await Assert.ThrowsAsync<EvaluationException>(() =>
            RegisteredRouterEvaluation.RunAsync(store, new HmacManifestSigner(Key), "router", 1, "logged", "test", "e4", DateTimeOffset.UnixEpoch, CancellationToken.None));
        Assert.Equal(409, tampered.Status);
        Assert.Empty(await RegisteredRouterEvaluation.ListAsync(store, "router", 1, CancellationToken.None));
    }

    [Theory]
    [InlineData("missing", "test", 404, "dataset")]
    [InlineData("logged", "train", 404, "dataset")]
    [InlineData("logged", "validation", 400, "split")]
    [InlineData("../etc", "test", 400, "dataset")]
    public async Task Bad_dataset_or_split_is_refused_naming_the_field(string dataset, string split, int status, string field)
    {
        var (store, _) = await Registry();
        var ex = await Assert.ThrowsAsync<EvaluationException>(() =>
            RegisteredRouterEvaluation.RunAsync(store, new HmacManifestSigner(Key), "router", 1, dataset, split, "e5", DateTimeOffset.UnixEpoch, CancellationToken.None));
        Assert.Equal((status, field), (ex.Status, ex.Field));
    }
}
