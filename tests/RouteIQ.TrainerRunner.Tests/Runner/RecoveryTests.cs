using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Docker.DotNet;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using RouteIQ.GatewayAdmin;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>
/// A runner killed with <c>kill -9</c> mid-job: gateway-admin sees its heartbeats stop, marks the
/// job lost and dispatches it again; another runner completes it; the dead runner, restarted,
/// removes the container it left behind.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RecoveryTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);
    private readonly DockerClient _docker = TestDocker.CreateClient();
    private readonly string _artifacts = TestInfra.TempDirectory("recovery-artifacts");
    private readonly HttpClient _http = new();
    private string _rabbit = "";
    private WebApplication _gateway = null!;
    private string _gatewayUrl = "";

    public async Task InitializeAsync()
    {
        _rabbit = await TestInfra.CreateVirtualHostAsync("runner-recovery");
        var database = await TestInfra.CreateDatabaseAsync("runner_recovery");
        var specs = TestInfra.TempDirectory("recovery-specs");
        await File.WriteAllTextAsync(Path.Combine(specs, "trainers.yaml"), $"""
            sleeper:
              trainer_image: {TestInfra.TestImage}
              command: ["/bin/sh", "-c", "echo start; sleep 6; echo m > /output/model.bin"]
              timeout: 120
            """);

        _gatewayUrl = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = typeof(GatewayAdminExtensions).Assembly.GetName().Name });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = _rabbit,
            ["ConnectionStrings:RouteIQ"] = database,
            ["RouteIQ:DataDir"] = TestInfra.TempDirectory("recovery-gateway"),
            ["RouteIQ:Artifacts:Uri"] = "file://" + _artifacts,
            ["RouteIQ:Specs:Path"] = specs,
            ["RouteIQ:Jobs:HeartbeatSeconds"] = "1",
            ["RouteIQ:Jobs:MaxAttempts"] = "2",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.UseDefaultUrls(_gatewayUrl);
        builder.AddServiceDefaults("gateway-admin");
        builder.AddGatewayAdmin();
        builder.AddRouteIQBus();
        _gateway = builder.Build();
        _gateway.MapDefaultEndpoints();
        _gateway.MapGatewayAdminApi();
        await _gateway.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.StopAsync();
        await _gateway.DisposeAsync();
        _http.Dispose();
        _docker.Dispose();
    }

    private Dictionary<string, string> RunnerEnvironment(string node, string dataDir) => new()
    {
        ["ConnectionStrings__RabbitMq"] = _rabbit,
        ["RouteIQ__NodeName"] = node,
        ["RouteIQ__DataDir"] = dataDir,
        ["RouteIQ__Artifacts__Uri"] = "file://" + _artifacts,
        ["RouteIQ__Runner__HeartbeatSeconds"] = "1",
        ["RouteIQ__Workloads__Launcher"] = "Docker",
        ["RouteIQ__Workloads__DockerHost"] = TestInfra.DockerHost,
    };

    private async Task<JsonElement> GetJobAsync(Guid id) =>
        await _http.GetFromJsonAsync<JsonElement>($"{_gatewayUrl}/admin/jobs/{id}");

    private Task<bool> ContainerExistsAsync(string name) => _docker.ContainerExistsAsync(name);

    [Fact]
    public async Task A_job_of_a_killed_runner_is_redispatched_and_completes_and_the_restarted_runner_removes_its_orphan()
    {
        var deadNode = $"doomed-{Guid.NewGuid():N}"[..15];
        var deadDataDir = TestInfra.TempDirectory("recovery-doomed");
        var doomed = await RunnerProcess.StartAsync(RunnerEnvironment(deadNode, deadDataDir));

        using var response = await _http.PostAsJsonAsync($"{_gatewayUrl}/admin/train/sleeper?async=true", new { });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("job_id").GetGuid();

        string firstContainer = "";
        await TestInfra.WaitUntilAsync(async () =>
        {
            var job = await GetJobAsync(jobId);
            firstContainer = job.GetProperty("workload").GetString() ?? "";
            return job.GetProperty("state").GetString() == "running" && job.GetProperty("node").GetString() == deadNode;
        }, Wait, "the job to run on the doomed runner");

        await doomed.KillAsync();
        Assert.True(await ContainerExistsAsync(firstContainer), "kill -9 leaves the container behind");

        // Another runner joins; gateway-admin re-dispatches the lost job to the shared queue.
        await using var survivor = await RunnerHost.StartAsync(_rabbit, $"survivor-{Guid.NewGuid():N}"[..17], new Dictionary<string, string?>
        {
            ["RouteIQ:Artifacts:Uri"] = "file://" + _artifacts,
        });
        JsonElement finished = default;
        await TestInfra.WaitUntilAsync(async () =>
        {
            finished = await GetJobAsync(jobId);
            return finished.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled";
        }, Wait, "the job to finish");

        Assert.Equal("succeeded", finished.GetProperty("state").GetString());
        Assert.Equal(2, finished.GetProperty("attempt").GetInt32());
        Assert.Equal(survivor.Node, finished.GetProperty("node").GetString());
        Assert.True(await ContainerExistsAsync(firstContainer), "nobody else removes the dead runner's container");

        // The dead runner comes back: it removes what it left and says so.
        await using var restarted = await RunnerProcess.StartAsync(RunnerEnvironment(deadNode, deadDataDir));
        var status = await _http.GetFromJsonAsync<JsonElement>($"{restarted.Url}/runner/status");
        Assert.Equal([firstContainer], status.GetProperty("removed_orphans").EnumerateArray().Select(e => e.GetString()));
        Assert.False(await ContainerExistsAsync(firstContainer));
        Assert.Contains(firstContainer, restarted.Log);
    }
}
