using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using RouteIQ.Contracts;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>gateway-admin killed between committing a job and sending it: after a restart the job is dispatched exactly once.</summary>
[Trait("Category", "Integration")]
public sealed class CrashRecoveryTests : IAsyncLifetime
{
    private readonly FakeCluster _cluster = new();
    private IHost _runner = null!;
    private string _vhost = null!;
    private string _db = null!;
    private string _specs = null!;

    public async Task InitializeAsync()
    {
        _specs = TestInfra.TempDirectory("admin-crash");
        await File.WriteAllTextAsync(Path.Combine(_specs, "t.yaml"), "knn: {trainer_image: t, env: {FAKE: hang}}\n");
        _vhost = await TestInfra.CreateVirtualHostAsync("admin-crash");
        _db = await TestInfra.CreateDatabaseAsync("admin_crash");

        // Only the runner side, observing what is dispatched.
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:RabbitMq"] = _vhost });
        builder.Services.AddSingleton(TimeProvider.System);
        FakeCluster.AddTo(builder, _cluster, runner: true, rollout: false);
        builder.AddRouteIQBus();
        _runner = builder.Build();
        await _runner.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _runner.StopAsync();
        _runner.Dispose();
    }

    private Dictionary<string, string?> Environment(int port, bool crash) => new()
    {
        ["ConnectionStrings__RabbitMq"] = _vhost,
        ["ConnectionStrings__RouteIQ"] = _db,
        ["RouteIQ__Specs__Path"] = _specs,
        ["RouteIQ__DataDir"] = TestInfra.TempDirectory("admin-crash-data"),
        ["RouteIQ__Admin__ApiKeys__0"] = AdminTestHost.ApiKey,
        ["RouteIQ__Admin__CrashAfterJobWrite"] = crash ? "true" : "false",
        ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
        ["DOTNET_DbgEnableMiniDump"] = "0",
    };

    private async Task<long> CountAsync(string table)
    {
        await using var connection = new NpgsqlConnection(_db);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM gateway_admin.{table}", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task A_crash_after_the_job_write_dispatches_the_job_exactly_once_after_restart()
    {
        var port = TestInfra.FreePort();
        await using (var crashing = ServiceProcess.Start("RouteIQ.GatewayAdmin.dll", Environment(port, crash: true)))
        {
            await crashing.WaitForHttpOkAsync($"http://127.0.0.1:{port}/health/live", TimeSpan.FromSeconds(60));
            using var http = new HttpClient();
            http.DefaultRequestHeaders.Add("X-API-Key", AdminTestHost.ApiKey);
            http.DefaultRequestHeaders.Add("Prefer", "respond-async");
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.PostAsync($"http://127.0.0.1:{port}/admin/train/knn", new StringContent("{}")));
            var exit = await crashing.WaitForExitAsync(TimeSpan.FromSeconds(30));
            Assert.NotEqual(0, exit);
        }

        Assert.Equal(1, await CountAsync("jobs"));
        Assert.Equal(1, await CountAsync("outbox"));
        // Anything the crashed process sent before dying has reached the runner.
        await TestInfra.WaitForQueuesDrainedAsync(_vhost, q => q == RunnerQueues.Cpu, TimeSpan.FromSeconds(30));
        Assert.Empty(_cluster.Dispatched);

        await using var restarted = ServiceProcess.Start("RouteIQ.GatewayAdmin.dll", Environment(port, crash: false));
        await restarted.WaitForHttpOkAsync($"http://127.0.0.1:{port}/health/live", TimeSpan.FromSeconds(60));
        await TestInfra.WaitUntilAsync(() => Task.FromResult(!_cluster.Dispatched.IsEmpty), TimeSpan.FromSeconds(30),
            "the job to be dispatched after restart; gateway-admin said:\n" + restarted.Output);
        await TestInfra.WaitUntilAsync(async () => await CountAsync("outbox") == 0, TimeSpan.FromSeconds(10), "the outbox to drain");
        // Every dispatch sent (a re-send included) has been consumed by the runner.
        await TestInfra.WaitForQueuesDrainedAsync(_vhost, q => q == RunnerQueues.Cpu, TimeSpan.FromSeconds(30));

        var dispatched = Assert.Single(_cluster.Dispatched);
        Assert.Equal(1, dispatched.Attempt);
        Assert.Equal(0, await CountAsync("outbox"));
        await restarted.TerminateAsync(TimeSpan.FromSeconds(30));
    }
}
