using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>Two gateway-admin replicas on one broker and one database.</summary>
[Trait("Category", "Integration")]
public sealed class TwoReplicaTests : IAsyncLifetime
{
    private readonly FakeCluster _cluster = new();
    private AdminTestHost _a = null!;
    private AdminTestHost _b = null!;

    public async Task InitializeAsync()
    {
        var specs = TestInfra.TempDirectory("admin-replicas");
        await File.WriteAllTextAsync(Path.Combine(specs, "t.yaml"), "knn: {trainer_image: t, model_name: knn-router, env: {FAKE: ok}}\nhang: {trainer_image: t, model_name: hang-router, env: {FAKE: hang}}\n");
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

    [Fact]
    public async Task A_follower_on_either_replica_gets_the_live_output_as_it_is_published()
    {
        var (_, body, _) = await _a.PostAsync("/admin/train/hang", new { }, r => r.Headers.Add("Prefer", "respond-async"));
        var jobId = Guid.Parse((string)body["job_id"]!);
        await _b.WaitForJobAsync(jobId.ToString(), j => (string?)j["state"] == "running", TimeSpan.FromSeconds(30));

        // Follow on replica B; the runner's chunks are published on the broker (here from A's bus).
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/admin/jobs/{jobId}/logs?follow=true");
        using var response = await _b.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var bus = _a.Services.GetRequiredService<MassTransit.IBus>();
        var seen = new System.Text.StringBuilder();
        var buffer = new byte[4096];
        async Task ReadUntilAsync(string text)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (!seen.ToString().Contains(text, StringComparison.Ordinal))
            {
                var n = await stream.ReadAsync(buffer, timeout.Token);
                Assert.True(n > 0, $"the follow stream ended before '{text}': {seen}");
                seen.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, n));
            }
        }
        Contracts.TrainLogAppended Chunk(long offset, string text) => new()
        {
            JobId = jobId, Attempt = 1, Node = "fake-node-1", Offset = offset, Text = text, Timestamp = DateTimeOffset.UtcNow,
        };

        await bus.Publish(Chunk(0, "epoch 1\nlive 1\n"));
        await ReadUntilAsync("live 1\n");
        await bus.Publish(Chunk(15, "live 2\n"));
        await bus.Publish(Chunk(15, "live 2\n"));
        await ReadUntilAsync("live 2\n");
        Assert.Equal("running", (string?)(await _b.GetAsync($"/admin/jobs/{jobId}")).Body["state"]);
        // Each line once: the heartbeat's "epoch 1" tail and the live chunk overlap, and the chunk came twice.
        Assert.Equal("epoch 1\nlive 1\nlive 2\n", seen.ToString());

        using (await _a.Http.DeleteAsync($"/admin/jobs/{jobId}"))
        {
        }
    }
}
