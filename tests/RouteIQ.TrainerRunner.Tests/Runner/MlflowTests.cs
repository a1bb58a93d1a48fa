using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Testing;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>
/// MLflow wiring. No MLflow server exists on this machine, so these tests answer the runner
/// with a loopback stand-in that implements the five REST calls it makes, shaped as MLflow's
/// published REST API 2.0 documents them, and assert on the requests the runner sent. They
/// prove the wiring and the request shapes, not compatibility with a real MLflow server.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MlflowTests(VhostFixture fixture) : IClassFixture<VhostFixture>, IAsyncLifetime
{
    private readonly ConcurrentQueue<(string Path, string Query, JsonElement? Body)> _calls = new();
    private WebApplication _mlflow = null!;
    private string _mlflowUrl = "";

    public async Task InitializeAsync()
    {
        _mlflowUrl = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(_mlflowUrl);
        _mlflow = builder.Build();
        var experimentCreated = false;
        _mlflow.MapGet("/api/2.0/mlflow/experiments/get-by-name", (HttpContext c) =>
        {
            Record(c, null);
            return experimentCreated
                ? Results.Json(new { experiment = new { experiment_id = "7", name = c.Request.Query["experiment_name"].ToString() } })
                : Results.Json(new { error_code = "RESOURCE_DOES_NOT_EXIST", message = "no experiment" }, statusCode: 404);
        });
        _mlflow.MapPost("/api/2.0/mlflow/experiments/create", async (HttpContext c) =>
        {
            Record(c, await c.Request.ReadFromJsonAsync<JsonElement>());
            experimentCreated = true;
            return Results.Json(new { experiment_id = "7" });
        });
        _mlflow.MapPost("/api/2.0/mlflow/runs/create", async (HttpContext c) =>
        {
            Record(c, await c.Request.ReadFromJsonAsync<JsonElement>());
            return Results.Json(new { run = new { info = new { run_id = "run-abc", experiment_id = "7", status = "RUNNING" } } });
        });
        _mlflow.MapPost("/api/2.0/mlflow/runs/update", async (HttpContext c) =>
        {
            Record(c, await c.Request.ReadFromJsonAsync<JsonElement>());
            return Results.Json(new { run_info = new { run_id = "run-abc" } });
        });
        _mlflow.MapGet("/api/2.0/mlflow/model-versions/search", (HttpContext c) =>
        {
            Record(c, null);
            return Results.Json(new
            {
                model_versions = new[]
                {
                    new { name = "knn-router", version = "2", run_id = "run-abc" },
                    new { name = "knn-router", version = "3", run_id = "run-abc" },
                },
            });
        });
        await _mlflow.StartAsync();
    }

    public async Task DisposeAsync() => await _mlflow.DisposeAsync();

    private void Record(HttpContext context, JsonElement? body) =>
        _calls.Enqueue((context.Request.Path.Value ?? "", Uri.UnescapeDataString(context.Request.QueryString.Value ?? ""), body));

    [Fact]
    public async Task The_run_is_precreated_passed_to_the_trainer_finished_and_its_model_version_reported()
    {
        await using var runner = await RunnerHost.StartAsync(fixture.RabbitUri, $"mlflow-{Guid.NewGuid():N}"[..15], new Dictionary<string, string?>
        {
            ["RouteIQ:Workloads:Launcher"] = "Process",
            ["MLFLOW_TRACKING_URI"] = _mlflowUrl,
            ["MLFLOW_EXPERIMENT"] = "routing",
        });
        var request = BusProbe.Job("echo \"$MLFLOW_TRACKING_URI $MLFLOW_RUN_ID\" > \"$ROUTEIQ_OUTPUT_DIR/run.txt\"; echo m > \"$ROUTEIQ_OUTPUT_DIR/model.bin\"");

        await fixture.Probe.SendAsync(request);

        var started = await fixture.Probe.WaitForAsync<TrainStarted>(s => s.JobId == request.JobId, TimeSpan.FromSeconds(60));
        var completed = await fixture.Probe.WaitForAsync<TrainCompleted>(c => c.JobId == request.JobId, TimeSpan.FromSeconds(60));
        Assert.Equal("run-abc", started.RunId);
        Assert.Equal("run-abc", completed.RunId);
        Assert.Equal("3", completed.MlflowModelVersion);

        var store = runner.App.Services.GetRequiredService<IArtifactStore>();
        await using (var run = await store.OpenReadAsync(ArtifactKeys.RunOutput(request.JobId) + "run.txt"))
        {
            Assert.Equal($"{_mlflowUrl} run-abc\n", await new StreamReader(run).ReadToEndAsync());
        }

        var calls = _calls.ToList();
        Assert.Equal(
            ["/api/2.0/mlflow/experiments/get-by-name", "/api/2.0/mlflow/experiments/create", "/api/2.0/mlflow/runs/create",
             "/api/2.0/mlflow/runs/update", "/api/2.0/mlflow/model-versions/search"],
            calls.Select(c => c.Path));
        Assert.Equal("?experiment_name=routing", calls[0].Query);
        Assert.Equal("routing", calls[1].Body!.Value.GetProperty("name").GetString());
        var create = calls[2].Body!.Value;
        Assert.Equal("7", create.GetProperty("experiment_id").GetString());
        var tags = create.GetProperty("tags").EnumerateArray().ToDictionary(t => t.GetProperty("key").GetString()!, t => t.GetProperty("value").GetString());
        Assert.Equal(request.JobId.ToString(), tags["request_id"]);
        Assert.Equal("knn", tags["trainer"]);
        Assert.Equal(started.WorkloadName, tags["container_name"]);
        Assert.Equal("run-abc", calls[3].Body!.Value.GetProperty("run_id").GetString());
        Assert.Equal("FINISHED", calls[3].Body!.Value.GetProperty("status").GetString());
        Assert.Equal("?filter=name = 'knn-router' and run_id = 'run-abc'", calls[4].Query);
    }
}
