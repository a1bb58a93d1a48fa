using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using RouteIQ.Testing;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// The smaller first-hour defects: response files, model selection, not-found jobs, JSON
/// escaping, wrapped lists, refused keys, roll job logs, ingest rejections, the latest dataset.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SmallDefectsTests
{
    private static readonly Guid RollJob = Guid.NewGuid();

    private static Task<CannedAdminApi> StartApiAsync() => CannedAdminApi.StartAsync(app =>
    {
        app.MapPost("/admin/roll", () => CannedAdminApi.Accepted(RollJob, "roll"));
        app.MapPost("/admin/rollback", () => CannedAdminApi.Accepted(RollJob, "rollback"));
        app.MapPost("/admin/train_then_roll/{trainer}", (string trainer) => CannedAdminApi.Accepted(RollJob));
        app.MapGet("/status", () => CannedAdminApi.Json(new JsonObject { ["active"] = true, ["model_name"] = "mlp-router", ["serve_image"] = "routeiq/router-server:dev+cuda" }));
        app.MapGet("/admin/jobs/{id:guid}", (Guid id) =>
        {
            var job = CannedAdminApi.Job(id, "succeeded", "roll");
            job["result"] = new JsonObject { ["name"] = "knn-router", ["version"] = 3, ["alias"] = "production", ["public_url"] = "http://127.0.0.1:9000", ["url"] = "http://127.0.0.1:41234" };
            return id == RollJob ? CannedAdminApi.Json(job) : CannedAdminApi.Problem(404, "job not found", new JsonObject { ["job_id"] = id });
        });
        app.MapGet("/admin/jobs/{id:guid}/logs", () => Results.Text(""));
        app.MapGet("/admin/datasets", () => CannedAdminApi.Json(JsonNode.Parse("""[{"dataset_id":"ds-new","uri":"file:///d/new","created_at":"2026-12-01T01:00:00Z"},{"dataset_id":"ds-old","uri":"file:///d/old","created_at":"2026-11-01T01:00:00Z"}]""")!));
        app.MapGet("/admin/trainers", () => CannedAdminApi.Json(JsonNode.Parse("""{"trainers":{"knn-router":{"dataset":null}}}""")!));
        app.MapGet("/admin/deployments", (HttpRequest r) => r.Headers.Authorization.Count > 0
            ? CannedAdminApi.Problem(401, "unauthorized")
            : CannedAdminApi.Json(new JsonObject { ["deployments"] = new JsonArray() }));
        app.MapPost("/admin/telemetry/events", () => CannedAdminApi.Json(JsonNode.Parse("""{"received":3,"stored":2,"duplicates":0,"rejected":1,"rejections":[{"index":1,"reason":"contract_name is missing"}]}""")!));
        app.MapGet("/admin/telemetry/rejected", () => CannedAdminApi.Json(JsonNode.Parse("""[{"id":7,"received_at":"2026-12-01T01:00:00Z","source":"http","reason":"contract_name is missing","raw_body":"{}"}]""")!));
    });

    [Fact]
    public async Task RollAtAliasIsAnAliasNotAResponseFile()
    {
        await using var api = await StartApiAsync();
        var result = await CliProcess.RunAsync("--server", api.Url, "roll", "knn-router", "@production");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("\"ref\":\"@production\"", api.Requests.First(r => r.Method == "POST").Body);
    }

    [Fact]
    public async Task StatusAndRollbackActOnTheNamedModel()
    {
        await using var api = await StartApiAsync();
        Assert.Equal(0, (await CliProcess.RunAsync("--server", api.Url, "status", "mlp-router")).ExitCode);
        Assert.Equal(0, (await CliProcess.RunAsync("--server", api.Url, "status", "--model", "knn-router")).ExitCode);
        Assert.Equal(0, (await CliProcess.RunAsync("--server", api.Url, "rollback", "--model", "mlp-router")).ExitCode);
        Assert.Contains(api.Requests, r => r.PathAndQuery == "/status?name=mlp-router");
        Assert.Contains(api.Requests, r => r.PathAndQuery == "/status?name=knn-router");
        Assert.Contains("\"name\":\"mlp-router\"", api.Requests.First(r => r.PathAndQuery == "/admin/rollback").Body);
    }

    [Fact]
    public async Task JobsShowOfAnUnknownJobSaysNotFound()
    {
        await using var api = await StartApiAsync();
        var id = Guid.NewGuid();
        var result = await CliProcess.RunAsync("--server", api.Url, "jobs", "show", id.ToString());
        Assert.Equal(5, result.ExitCode);
        Assert.Equal($"routeiq: job '{id}' not found (`routeiq jobs` lists the jobs)\n", result.Stderr);
        var notAnId = await CliProcess.RunAsync("--server", api.Url, "logs", "abc");
        Assert.Equal(5, notAnId.ExitCode);
        Assert.Contains("job 'abc' not found", notAnId.Stderr);
    }

    [Fact]
    public async Task JsonKeepsPlusAndListsAreWrapped()
    {
        await using var api = await StartApiAsync();
        var status = await CliProcess.RunAsync("--server", api.Url, "--json", "status");
        Assert.Contains("routeiq/router-server:dev+cuda", status.Stdout);
        var datasets = await CliProcess.RunAsync("--server", api.Url, "--json", "dataset", "list");
        Assert.Equal("ds-new", JsonNode.Parse(datasets.Stdout)!["datasets"]![0]!["dataset_id"]!.GetValue<string>());
        var rejected = await CliProcess.RunAsync("--server", api.Url, "--json", "ingest", "rejected");
        Assert.Equal("contract_name is missing", JsonNode.Parse(rejected.Stdout)!["rejected"]![0]!["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task AWrongKeySaysTheKeyWasRefused()
    {
        await using var api = await StartApiAsync();
        var result = await CliProcess.RunAsync("--server", api.Url, "--api-key", "wrong", "deployments");
        Assert.Equal(4, result.ExitCode);
        Assert.Contains("the API key was refused", result.Stderr);
    }

    [Fact]
    public async Task LogsOfARollJobSayWhatItDid()
    {
        await using var api = await StartApiAsync();
        var result = await CliProcess.RunAsync("--server", api.Url, "logs", RollJob.ToString());
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("runs no workload", result.Stdout);
        Assert.Contains("knn-router v3 (production) active at http://127.0.0.1:9000", result.Stdout);
    }

    [Fact]
    public async Task IngestFileShowsRejectionReasonsWithLineNumbers()
    {
        await using var api = await StartApiAsync();
        var file = Path.Combine(TestInfra.TempDirectory("cli-ingest"), "events.jsonl");
        await File.WriteAllLinesAsync(file, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
        var result = await CliProcess.RunAsync("--server", api.Url, "ingest", "file", file);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("rejected line 2: contract_name is missing", result.Stdout);
        var rejected = await CliProcess.RunAsync("--server", api.Url, "ingest", "rejected");
        Assert.Contains("contract_name is missing", rejected.Stdout);
    }

    [Fact]
    public async Task TrainWithoutDatasetTrainsOnTheLatestAndSaysSo()
    {
        await using var api = await StartApiAsync();
        var result = await CliProcess.RunAsync("--server", api.Url, "train", "knn-router", "--then-roll", "--async");
        Assert.True(result.ExitCode == 7, result.ToString());
        Assert.Contains("training on the latest dataset, ds-new", result.Stderr);
        Assert.Contains("\"dataset\":\"ds-new\"", api.Requests.First(r => r.Method == "POST").Body);
    }
}
