using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Contracts;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>Recovery of jobs whose runner goes silent (heartbeat 1 s here, so lost after 3 s).</summary>
[Trait("Category", "Integration")]
public sealed class LostJobTests : IAsyncLifetime
{
    private const string Specs = """
        silent: {trainer_image: t, env: {FAKE: silent-once}}
        hang: {trainer_image: t, env: {FAKE: hang}}
        handback: {trainer_image: t, env: {FAKE: handback-once}}
        handback-silent: {trainer_image: t, env: {FAKE: handback-silent}}
        """;

    private readonly FakeCluster _cluster = new();
    private AdminTestHost _host = null!;

    public async Task InitializeAsync()
    {
        var specs = TestInfra.TempDirectory("admin-lost");
        await File.WriteAllTextAsync(Path.Combine(specs, "t.yaml"), Specs);
        _host = await AdminTestHost.StartAsync(await TestInfra.CreateVirtualHostAsync("admin-lost"), await TestInfra.CreateDatabaseAsync("admin_lost"), specs,
            new Dictionary<string, string?> { ["RouteIQ:Jobs:HeartbeatSeconds"] = "1", ["RouteIQ:Jobs:MaxAttempts"] = "2" },
            b => FakeCluster.AddTo(b, _cluster));
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static void Async(HttpRequestMessage r) => r.Headers.Add("Prefer", "respond-async");

    [Fact]
    public async Task A_silent_runner_is_lost_and_the_job_dispatched_again_as_a_new_attempt()
    {
        var (_, body, _) = await _host.PostAsync("/admin/train/silent", new { }, Async);
        var jobId = (string)body["job_id"]!;

        var job = await _host.WaitForJobAsync(jobId, j => (string?)j["state"] == "succeeded", TimeSpan.FromSeconds(40));
        Assert.Equal(2, (int?)job["attempt"]);
        Assert.Equal("fake-node-2", (string?)job["node"]);
        var id = Guid.Parse(jobId);
        Assert.Equal([1, 2], _cluster.Dispatched.Where(d => d.JobId == id).Select(d => d.Attempt).Order());
        // The silent attempt is told to stop, in case its runner is alive but cut off.
        await TestInfra.WaitUntilAsync(() => Task.FromResult(_cluster.Cancels.Any(c => c.JobId == id && c.Attempt == 1 && c.Node == "fake-node-1")),
            TimeSpan.FromSeconds(10), "CancelTrain for the lost attempt");

        // A late event of the stale attempt changes nothing (checked once the ledger has consumed it).
        var bus = _host.Services.GetRequiredService<IBus>();
        using var late = ConsumedWatch<TrainFailed>.Start(bus, m => m.JobId == id && m.Reason == "late");
        await bus.Publish(new TrainFailed
        {
            JobId = id, Trainer = "silent", Attempt = 1, Reason = "late", ExitCode = 1, FailedAt = DateTimeOffset.UtcNow,
        });
        await late.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("succeeded", (string?)(await _host.GetAsync($"/admin/jobs/{jobId}")).Body["state"]);
    }

    [Fact]
    public async Task A_job_lost_on_every_attempt_fails_with_runner_lost()
    {
        var (status, body, _) = await _host.PostAsync("/admin/train/hang", new { wait_seconds = 60 });
        Assert.Equal(500, status);
        Assert.Equal("runner lost", (string?)body["error"]);
        Assert.Equal(2, (int?)body["attempts"]);
        Assert.Equal(2, _cluster.DispatchCount(Guid.Parse((string)body["job_id"]!)));
    }

    [Fact]
    public async Task A_handed_back_job_is_dispatched_again_without_counting_the_attempt()
    {
        var (status, body, _) = await _host.PostAsync("/admin/train/handback", new { });
        Assert.Equal(200, status);
        var job = await _host.GetAsync($"/admin/jobs/{body["job_id"]}");
        Assert.Equal(2, (int?)job.Body["attempt"]);

        // Handed back (not counted), then lost (counted 1 of 2): a third dispatch still happens.
        var (_, silent, _) = await _host.PostAsync("/admin/train/handback-silent", new { }, Async);
        var done = await _host.WaitForJobAsync((string)silent["job_id"]!, j => (string?)j["state"] is "succeeded" or "failed", TimeSpan.FromSeconds(40));
        Assert.Equal("succeeded", (string?)done["state"]);
        Assert.Equal(3, (int?)done["attempt"]);
    }
}
