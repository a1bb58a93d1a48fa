using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RouteIQ.Cli;
using RouteIQ.Testing;

// Issue 19, "from the trigger's threshold crossing to the new version serving ≤ training time + 30 s".
// Embedded host (SQLite, in-memory bus, the reference router trainer and server as processes) with the
// product's defaults (RouteIQ:Continuous:EvaluateSeconds 15, statistics flushed every second) and one
// trainer whose continuous policy fires on new_decisions. Each round sends exactly the threshold's
// decisions through POST /admin/telemetry/events; the crossing is the moment the last of them is
// stored (the response of the last request). The round ends when GET /status?name= shows the version
// the run's job registered. The baseline is the run's own training time (the runner's measured
// duration_seconds of the job): overhead = (serving − crossing) − training.
// Usage: dotnet run -c Release --project bench/RouteIQ.Bench.Continuous -- [--rounds 3] [--threshold 3000] [--evaluate-seconds 15] [--window-seconds 300]
var rounds = (int)Arg("--rounds", 3);
var threshold = (int)Arg("--threshold", 3000);
var evaluateSeconds = Arg("--evaluate-seconds", 15);
var windowSeconds = Arg("--window-seconds", 300);

var dir = TestInfra.TempDirectory("bench-continuous");
var specs = Directory.CreateDirectory(Path.Combine(dir, "specs")).FullName;
var catalogue = Path.Combine(dir, "catalogue.json");
await File.WriteAllTextAsync(catalogue, JsonSerializer.Serialize(DemoWorld.Catalog()));
await File.WriteAllTextAsync(Path.Combine(specs, "bench-router.yaml"), $"""
    bench-router:
      trainer_image: routeiq/router-trainer:dev
      serve_image: routeiq/router-server:dev
      model_name: bench-router
      timeout: 600
      env:
        ROUTER_TYPE: mlp
      continuous:
        dataset: {"{"}window: "1d", test_split: 0.2{"}"}
        triggers:
          new_decisions: {threshold}
        cooldown_seconds: 0
        max_running: 1
        promote: true
    """);
var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
var (app, code) = await EmbeddedHost.StartAsync(["--urls", url], new Dictionary<string, string?>
{
    ["RouteIQ:DataDir"] = Path.Combine(dir, "data"),
    ["RouteIQ:Specs:Path"] = specs,
    ["RouteIQ:Rollout:PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
    ["RouteIQ:Telemetry:StoreQueryText"] = "true",
    ["RouteIQ:Telemetry:ModelCatalogPath"] = catalogue,
    ["RouteIQ:Continuous:EvaluateSeconds"] = evaluateSeconds.ToString(CultureInfo.InvariantCulture),
    ["RouteIQ:Telemetry:Drift:WindowSeconds"] = windowSeconds.ToString(CultureInfo.InvariantCulture),
    ["Logging:LogLevel:Default"] = "Warning",
}, CancellationToken.None);
if (app is null)
{
    return code;
}

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, load average {LoadAverage()}; " +
    $"threshold new_decisions {threshold}, evaluate every {evaluateSeconds} s, statistics windows of {windowSeconds} s, {rounds} rounds");
using var http = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromMinutes(2) };
// A new policy counts decisions from its first evaluation on: wait until its state is stored (the
// same counted_since twice) so that the round's decisions are all "new".
string? countedSince = null;
while (true)
{
    var since = (await GetAsync("admin/continuous"))["trainers"]?["bench-router"]?["counted_since"]?.ToJsonString();
    if (since is not null && since == countedSince)
    {
        break;
    }
    countedSince = since;
    await Task.Delay(1000);
}
var world = new DemoWorld(7);
var overheads = new List<double>();
string? lastRun = null;
for (var round = 1; round <= rounds; round++)
{
    // The threshold's decisions, in requests under the ingest endpoint's 1 MiB.
    var stored = 0L;
    var chunk = new StringBuilder();
    var inChunk = 0;
    while (stored < threshold)
    {
        var query = world.NextQuery();
        foreach (var e in world.Events(query, DateTimeOffset.UtcNow))
        {
            if (stored + inChunk >= threshold)
            {
                break;
            }
            chunk.Append(e).Append('\n');
            inChunk++;
        }
        if (chunk.Length > 700_000 || stored + inChunk >= threshold)
        {
            using var content = new StringContent(chunk.ToString(), Encoding.UTF8, "application/x-ndjson");
            using var response = await http.PostAsync("admin/telemetry/events", content);
            var report = JsonNode.Parse(await response.Content.ReadAsStringAsync());
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"ingest answered {(int)response.StatusCode}: {report?.ToJsonString()}");
            }
            stored += report?["stored"]?.GetValue<long>() ?? 0;
            chunk.Clear();
            inChunk = 0;
        }
    }
    var crossed = Stopwatch.StartNew();

    // The run the policy starts, its job, and the version serving.
    JsonObject? run = null;
    JsonNode? policy = null;
    while (crossed.Elapsed < TimeSpan.FromMinutes(10))
    {
        policy = (await GetAsync("admin/continuous"))["trainers"]?["bench-router"];
        if (policy?["last"] is JsonObject last && last["run_id"]?.GetValue<string>() is { } id && id != lastRun
            && last["job_state"]?.GetValue<string>() is "succeeded" or "failed" or "cancelled")
        {
            run = last;
            lastRun = id;
            break;
        }
        await Task.Delay(100);
    }
    if (run is null)
    {
        Console.WriteLine($"round {round}: no run finished within 10 minutes; the policy says {policy?.ToJsonString()}");
        return 1;
    }
    var job = await GetAsync($"admin/jobs/{run["job_id"]}");
    if (job["state"]?.GetValue<string>() != "succeeded")
    {
        Console.WriteLine($"round {round}: job {run["job_id"]} {job["state"]}: {job["error"]?.ToJsonString()}");
        return 1;
    }
    var version = FindNumber(job["result"], "version");
    while ((await GetAsync("status?name=bench-router"))["model_version"]?.GetValue<int>() != (int?)version)
    {
        await Task.Delay(50);
    }
    var serving = crossed.Elapsed.TotalSeconds;
    var training = FindNumber(job["result"], "duration_seconds") ?? double.NaN;
    var overhead = serving - training;
    overheads.Add(overhead);
    Console.WriteLine($"round {round}: {stored:N0} decisions stored → {run["trigger"]} fired {Seconds(run, "fired_at", job)} → job {run["job_id"]} v{version} serving after {serving:F1} s; " +
        $"training {training:F1} s → overhead {overhead:F1} s (target ≤ 30 s)");
}
overheads.Sort();
var median = overheads[overheads.Count / 2];
Console.WriteLine($"RESULT threshold-to-serving overhead over training: median {median:F1} s, max {overheads[^1]:F1} s over {overheads.Count} rounds " +
    $"{(overheads[^1] <= 30 ? "PASS" : "FAIL")} (≤ 30 s); load average {LoadAverage()}");
await app.StopAsync();
return overheads[^1] <= 30 ? 0 : 1;

async Task<JsonObject> GetAsync(string path)
{
    using var response = await http.GetAsync(path);
    return JsonNode.Parse(await response.Content.ReadAsStringAsync()) as JsonObject ?? [];
}

static double? FindNumber(JsonNode? node, string name) => node switch
{
    JsonObject o when o[name] is JsonValue v && v.TryGetValue<double>(out var d) => d,
    JsonObject o => o.Select(p => FindNumber(p.Value, name)).FirstOrDefault(d => d is not null),
    JsonArray a => a.Select(n => FindNumber(n, name)).FirstOrDefault(d => d is not null),
    _ => null,
};

static string Seconds(JsonObject run, string field, JsonObject job)
    => run[field]?.GetValue<DateTimeOffset>() is { } at && job["created_at"]?.GetValue<DateTimeOffset>() is { } created
        ? $"(job created {(created - at).TotalSeconds:F1} s after the claim)" : "";

double Arg(string name, double fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
