using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>Two gateway-admin replicas on one broker and one database.</summary>
public sealed class TwoReplicaTests : IAsyncLifetime
{
    private readonly FakeCluster _cluster = new();
    private AdminTestHost _a = null!;
    private AdminTestHost _b = null!;

    public async Task InitializeAsync()
    {
        var specs = TestInfra.TempDirectory("admin-replicas");
        await File.WriteAllTextAsync(Path.Combine(specs, "t.yaml"), "knn: {trainer_image: t, model_name: knn-router, env: {FAKE: ok}}\n");
        var vhost = await TestInfra.CreateVirtualHostAsync("admin-replicas");
        var db = await TestInfra.CreateDatabaseAsync("admin_replicas");
        _a = await AdminTestHost.StartAsync(vhost, db, specs, configure: b => FakeCluster.AddTo(b, _cluster));
        _b = await AdminTestHost.StartAsync(vhost, db, specs);
    }

    public async Task DisposeAsync()
    {
        await _b.DisposeAsync();
        await _a.DisposeAsync();
    }

    [Fact]
    public async Task Twenty_synchronous_trains_spread_over_two_replicas_all_complete()
    {
        var requests = Enumerable.Range(0, 20)
            .Select(i => (i % 2 == 0 ? _a : _b).PostAsync("/admin/train/knn", new { parameters = new Dictionary<string, int> { ["N"] = i } }))
            .ToList();
        var results = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(90));

        Assert.All(results, r => Assert.True(r.Status == 200, r.Body.ToJsonString()));
        Assert.Equal(20, results.Select(r => (string)r.Body["job_id"]!).Distinct().Count());
        Assert.Equal(20, results.Select(r => (int)r.Body["version"]!).Distinct().Count());
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            results.Select(r => (string)r.Body["parameters"]!["N"]!));
        // Each job dispatched exactly once although both replicas run an outbox dispatcher.
        Assert.All(results, r => Assert.Equal(1, _cluster.DispatchCount(Guid.Parse((string)r.Body["job_id"]!))));
    }
}
