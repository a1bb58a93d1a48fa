using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Npgsql;
using RouteIQ.Bench.Admin;
using RouteIQ.GatewayAdmin;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

// Async dispatch throughput of gateway-admin (POST /admin/train/{trainer} with
// Prefer: respond-async → 202) on real RabbitMQ + PostgreSQL over loopback, beside a bare
// minimal-API endpoint answering 202 measured in the same run with the same client.
// Usage: dotnet run -c Release --project bench/RouteIQ.Bench.Admin -- [--seconds 10] [--concurrency 64] [--runs 3] [--warmup 15]
var seconds = Arg("--seconds", 10);
var concurrency = Arg("--concurrency", 64);
var runs = Arg("--runs", 3);
// Steady state: on 2 cores the tiered JIT (tier 0 → instrumented → tier 1) of ASP.NET Core,
// EF Core, Npgsql and MassTransit needs ~10 s under load; a 3 s warm-up left run 1 at 1.4 ms of
// CPU per request instead of 0.35 ms.
var warmupSeconds = Arg("--warmup", 15);

var vhost = await TestInfra.CreateVirtualHostAsync("bench-admin");
var database = await TestInfra.CreateDatabaseAsync("bench_admin");
var specs = TestInfra.TempDirectory("bench-admin-specs");
await File.WriteAllTextAsync(Path.Combine(specs, "knn.yaml"),
    "knn-router:\n  trainer_image: routeiq/router-trainer\n  serve_image: routeiq/router-server\n  env: {ROUTER_TYPE: knn}\n");

var adminPort = TestInfra.FreePort();
var barePort = TestInfra.FreePort();
var admin = BuildAdmin(adminPort);
var bare = BuildBare(barePort);
await admin.StartAsync();
await bare.StartAsync();

var adminTarget = new Target("gateway-admin async train", $"http://127.0.0.1:{adminPort}/admin/train/knn-router", "{\"parameters\":{\"EPOCHS\":3}}");
var bareTarget = new Target("bare minimal API 202", $"http://127.0.0.1:{barePort}/bare", "{\"parameters\":{\"EPOCHS\":3}}");

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; {concurrency} connections, {seconds}s per run after {warmupSeconds}s warm-up, {runs} runs each");
var results = new Dictionary<string, List<LoadResult>> { [adminTarget.Name] = [], [bareTarget.Name] = [] };
await LoadGenerator.RunAsync(adminTarget, concurrency, TimeSpan.FromSeconds(warmupSeconds));
await LoadGenerator.RunAsync(bareTarget, concurrency, TimeSpan.FromSeconds(warmupSeconds));
for (var run = 1; run <= runs; run++)
{
    // Alternate, so drift of a noisy machine hits both alike.
    foreach (var target in new[] { adminTarget, bareTarget })
    {
        var result = await LoadGenerator.RunAsync(target, concurrency, TimeSpan.FromSeconds(seconds));
        results[target.Name].Add(result);
        Console.WriteLine($"run {run} {target.Name,-28} {result}");
    }
    var drained = await WaitForOutboxAsync(database, TimeSpan.FromSeconds(60));
    Console.WriteLine($"run {run} outbox drained {drained.TotalSeconds:0.0}s after the load stopped");
}

Console.WriteLine();
Console.WriteLine("| endpoint | requests/s | p50 ms | p99 ms | errors |");
Console.WriteLine("|---|---|---|---|---|");
foreach (var (name, list) in results)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {name} | {Median(list, r => r.RequestsPerSecond):0} | {Median(list, r => r.P50Ms):0.00} | {Median(list, r => r.P99Ms):0.00} | {list.Sum(r => r.Errors)} |"));
}
var ratio = Median(results[adminTarget.Name], r => r.RequestsPerSecond) / Median(results[bareTarget.Name], r => r.RequestsPerSecond);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gateway-admin / bare throughput ratio: {ratio:0.00}"));

await admin.StopAsync();
await bare.StopAsync();
await TestInfra.RunAsync("rabbitmqctl", "delete_vhost", new Uri(vhost).AbsolutePath.Trim('/'));
return 0;

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) ? v : fallback;
}

static double Median(List<LoadResult> list, Func<LoadResult, double> value)
{
    var sorted = list.Select(value).Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

WebApplication BuildAdmin(int port)
{
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["ConnectionStrings:RabbitMq"] = vhost,
        ["ConnectionStrings:RouteIQ"] = new NpgsqlConnectionStringBuilder(database) { MaxPoolSize = 100 }.ConnectionString,
        ["RouteIQ:Specs:Path"] = specs,
        ["RouteIQ:DataDir"] = TestInfra.TempDirectory("bench-admin-data"),
    });
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
    builder.Logging.ClearProviders();
    builder.AddServiceDefaults("gateway-admin");
    builder.AddGatewayAdmin();
    builder.AddRouteIQBus();
    var app = builder.Build();
    app.MapDefaultEndpoints();
    app.MapGatewayAdminApi();
    return app;
}

static WebApplication BuildBare(int port)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
    builder.Logging.ClearProviders();
    var app = builder.Build();
    app.MapPost("/bare", async (HttpRequest request) =>
    {
        // Read the body like the real endpoint does, then answer 202 with a Location.
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        await reader.ReadToEndAsync();
        var id = Guid.NewGuid();
        return Results.Accepted($"/admin/jobs/{id}", new { job_id = id, state = "queued" });
    });
    return app;
}

static async Task<TimeSpan> WaitForOutboxAsync(string database, TimeSpan timeout)
{
    var sw = Stopwatch.StartNew();
    await using var connection = new NpgsqlConnection(database);
    await connection.OpenAsync();
    while (sw.Elapsed < timeout)
    {
        await using var command = new NpgsqlCommand("SELECT count(*) FROM gateway_admin.outbox", connection);
        if ((long)(await command.ExecuteScalarAsync())! == 0)
        {
            return sw.Elapsed;
        }
        await Task.Delay(50);
    }
    throw new TimeoutException("the outbox did not drain");
}
