using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Cli;
using RouteIQ.Client;
using RouteIQ.GatewayAdmin.Ledger;
using JobStates = RouteIQ.Client.JobStates;
using RouteIQ.Testing;

// Dashboard page times with many jobs in the ledger, beside the plain JSON admin endpoint for the
// same data, measured in the same run with the same client; and the live log's delay (a line's
// timestamp written by the trainer → the line read from the page's event stream).
// A page's time is to its last byte: the streamed part that carries the data, not the first
// "loading" paint. Embedded host (SQLite, in-memory bus), no admin keys (loopback).
// Usage: dotnet run -c Release --project bench/RouteIQ.Bench.Ui -- [--jobs 100000] [--versions 1000] [--requests 40]
var jobs = Arg("--jobs", 100_000);
var versions = Arg("--versions", 1000);
var requests = Arg("--requests", 40);

var dir = TestInfra.TempDirectory("bench-ui");
var specs = Directory.CreateDirectory(Path.Combine(dir, "specs")).FullName;
await File.WriteAllTextAsync(Path.Combine(specs, "chatty.yaml"), """
    chatty:
      trainer_image: routeiq/router-trainer:dev
      command: ["/bin/sh", "-c", "i=1; while [ $i -le 40 ]; do echo \"line $i at $(date +%s%3N)\"; i=$((i+1)); sleep 0.25; done"]
      timeout: 300
    """);
var port = TestInfra.FreePort();
var url = $"http://127.0.0.1:{port}";
var (app, code) = await EmbeddedHost.StartAsync(["--urls", url], new Dictionary<string, string?>
{
    ["RouteIQ:DataDir"] = Path.Combine(dir, "data"),
    ["RouteIQ:Specs:Path"] = specs,
    ["RouteIQ:Rollout:PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
    ["RouteIQ:Runner:HeartbeatSeconds"] = "1",
    ["RouteIQ:Jobs:HeartbeatSeconds"] = "10",
    ["Logging:LogLevel:Default"] = "Warning",
}, CancellationToken.None);
if (app is null)
{
    return code;
}

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, load average {LoadAverage()}");
var seed = Stopwatch.StartNew();
var sample = await SeedAsync(app.Services.GetRequiredService<IDbContextFactory<LedgerDbContext>>(), jobs, versions);
Console.WriteLine($"seeded {jobs:N0} jobs ({versions:N0} registered versions of bench-model) in {seed.Elapsed.TotalSeconds:0.0}s");

using var http = new HttpClient { BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromMinutes(2) };
var pairs = new (string Page, string? Json)[]
{
    ("ui", "admin/jobs?limit=100"),
    ("ui/jobs", "admin/jobs?limit=100"),
    ($"ui/jobs/{sample}", $"admin/jobs/{sample}"),
    ("ui/models", "admin/deployments"),
    ("ui/models/bench-model", "admin/deployments?name=bench-model"),
    ("ui/rollouts", "admin/deployments"),
    ("ui/telemetry", "admin/telemetry/summary"),
    ("ui/datasets", "admin/datasets"),
};
Console.WriteLine();
Console.WriteLine($"| page | p50 ms | p95 ms | JSON baseline | p50 ms | p95 ms | p95 ratio |");
Console.WriteLine("|---|---|---|---|---|---|---|");
foreach (var (page, json) in pairs)
{
    await TimeAsync(http, page, 3);
    var pageTimes = await TimeAsync(http, page, requests);
    var jsonTimes = json is null ? null : await TimeAsync(http, json, requests);
    Console.WriteLine($"| /{page} | {P(pageTimes, 50)} | {P(pageTimes, 95)} | /{json} | {(jsonTimes is null ? "—" : P(jsonTimes, 50))} | {(jsonTimes is null ? "—" : P(jsonTimes, 95))} | {(jsonTimes is null ? "—" : (Percentile(pageTimes, 95) / Percentile(jsonTimes, 95)).ToString("0.0", CultureInfo.InvariantCulture) + "×")} |");
}

// Live log: trainer line timestamp → the line read from /ui/jobs/{id}/log/stream.
using var started = await http.PostAsJsonAsync("admin/train/chatty?async=true", new { });
var job = (await started.Content.ReadFromJsonAsync<JsonObject>())!["job_id"]!.GetValue<string>();
var delays = new List<double>();
using (var stream = await http.GetStreamAsync($"ui/jobs/{job}/log/stream"))
using (var reader = new StreamReader(stream))
{
    string? eventName = null;
    var seen = new HashSet<string>();
    while (await reader.ReadLineAsync() is { } line)
    {
        if (line.StartsWith("event: ", StringComparison.Ordinal))
        {
            eventName = line[7..];
            if (eventName == "end")
            {
                break;
            }
        }
        else if (line.StartsWith("data: ", StringComparison.Ordinal) && eventName is "log" or "reset")
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var text = JsonSerializer.Deserialize<string>(line[6..]) ?? "";
            foreach (var l in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var at = l.LastIndexOf(" at ", StringComparison.Ordinal);
                if (l.StartsWith("line ", StringComparison.Ordinal) && at > 0 && seen.Add(l)
                    && long.TryParse(l[(at + 4)..], NumberStyles.None, CultureInfo.InvariantCulture, out var written) && eventName == "log")
                {
                    delays.Add(now - written);
                }
            }
        }
    }
}
Console.WriteLine();
Console.WriteLine($"live log (heartbeat 1 s, {delays.Count} lines streamed while running): p50 {P(delays, 50)} ms, p95 {P(delays, 95)} ms, max {(delays.Count > 0 ? delays.Max() : 0):0} ms");

await app.StopAsync();
await app.DisposeAsync();
return 0;

static async Task<List<double>> TimeAsync(HttpClient http, string path, int count)
{
    var times = new List<double>(count);
    for (var i = 0; i < count; i++)
    {
        var sw = Stopwatch.StartNew();
        using var response = await http.GetAsync(path, HttpCompletionOption.ResponseContentRead);
        sw.Stop();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"GET /{path}: {(int)response.StatusCode}");
        }
        times.Add(sw.Elapsed.TotalMilliseconds);
    }
    return times;
}

static async Task<Guid> SeedAsync(IDbContextFactory<LedgerDbContext> contexts, int count, int versionCount)
{
    var random = new Random(20);
    var now = DateTimeOffset.UtcNow;
    var states = new[] { JobStates.Succeeded, JobStates.Succeeded, JobStates.Succeeded, JobStates.Failed, JobStates.Cancelled };
    Guid sample = Guid.Empty;
    for (var start = 0; start < count; start += 5000)
    {
        await using var db = await contexts.CreateDbContextAsync();
        db.ChangeTracker.AutoDetectChangesEnabled = false;
        for (var i = start; i < Math.Min(count, start + 5000); i++)
        {
            var created = now.AddSeconds(-(count - i) * 30.0);
            // The newest jobs carry the registered versions (with metrics, as a train result does).
            var version = i >= count - versionCount ? i - (count - versionCount) + 1 : (int?)null;
            var state = version is null ? states[random.Next(states.Length)] : JobStates.Succeeded;
            var job = new Job
            {
                Id = Guid.CreateVersion7(created),
                Kind = JobKinds.Train,
                Trainer = version is null ? $"trainer-{random.Next(20)}" : "bench-model",
                ModelName = version is null ? null : "bench-model",
                State = state,
                CreatedAt = created,
                StartedAt = created.AddSeconds(1),
                FinishedAt = created.AddSeconds(20 + random.Next(100)),
                Node = $"node-{random.Next(4)}",
                RequestJson = "{\"parameters\":{\"K\":10}}",
                ResolvedJson = "{\"trainer\":\"bench\",\"environment\":{\"ROUTER_TYPE\":\"knn\"}}",
                LogTail = "epoch 1\nepoch 2\ndone\n",
                TrainResultJson = version is { } v
                    ? new JsonObject
                    {
                        ["registered_model"] = "bench-model", ["version"] = v,
                        ["metrics"] = new JsonObject { ["avg_quality"] = 0.6 + random.NextDouble() * 0.2, ["avg_price"] = 1 + random.NextDouble() * 4 },
                    }.ToJsonString()
                    : null,
            };
            sample = job.Id;
            db.Jobs.Add(job);
            // The versions aggregate, as the ledger keeps it beside each train result.
            if (ModelVersionSummary.Of(job) is { } summary)
            {
                db.ModelVersions.Add(summary);
            }
        }
        await db.SaveChangesAsync();
    }
    return sample;
}

static double Percentile(List<double> values, int p)
{
    if (values.Count == 0)
    {
        return double.NaN;
    }
    var sorted = values.Order().ToList();
    return sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
}

static string P(List<double> values, int p) => Percentile(values, p).ToString("0.0", CultureInfo.InvariantCulture);

static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var v) ? v : fallback;
}
