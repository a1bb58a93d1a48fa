using System.Diagnostics;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using RouteIQ.Contracts;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest;
using RouteIQ.TelemetryIngest.Drift;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

// Issue 19 bench. A: ingest throughput through IngestService (PostgreSQL COPY, batches of 2,000
// pre-parsed decisions) with the window statistics off (A) and on (B), alternating rounds in one
// run; B includes the flusher's upserts. C: drift evaluation (GetDecisionStatistics with a baseline
// dataset) over statistics standing for many stored decisions: the time depends on windows × cells, not rows.
var decisions = Arg("--decisions", 200_000);
var rounds = Arg("--rounds", 4);
var represented = Arg("--represented", 10_000_000);
var days = Arg("--days", 30);
var admin = Environment.GetEnvironmentVariable("ROUTEIQ_TEST_POSTGRES") ?? "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres";

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}; .NET {Environment.Version}");
var off = await StartAsync(admin, "off", statistics: false);
var on = await StartAsync(admin, "on", statistics: true);

// Pre-parsed batches (parsing is the same on both sides and not what is measured).
var parser = off.Services.GetRequiredService<DecisionParser>();
var start = DateTimeOffset.UtcNow.AddDays(-1);
List<IngestBatch> Batches(int seed)
{
    var synthetic = new SyntheticTelemetry(seed, start, includeQueryText: false);
    var batches = new List<IngestBatch>();
    for (var i = 0; i < decisions; i += 2000)
    {
        var batch = new IngestBatch(IngestSources.Bus);
        for (var j = i; j < Math.Min(decisions, i + 2000); j++)
        {
            batch.Add(parser.Parse(synthetic.Event(j), new DecisionContext(IngestSources.Bus)), j, () => "");
        }
        batches.Add(batch);
    }
    return batches;
}

async Task<double> IngestAsync(WebApplication app, List<IngestBatch> batches)
{
    var ingest = app.Services.GetRequiredService<IngestService>();
    var sw = Stopwatch.StartNew();
    foreach (var batch in batches)
    {
        await ingest.WriteAsync(batch, CancellationToken.None);
    }
    // The statistics side's cost includes writing what it accumulated.
    await app.Services.GetRequiredService<DriftStatisticsFlusher>().FlushAsync(CancellationToken.None);
    return batches.Sum(b => b.Decisions.Count) / sw.Elapsed.TotalSeconds;
}

await IngestAsync(off, Batches(1000));
await IngestAsync(on, Batches(1001));
var a = new List<double>();
var b = new List<double>();
for (var r = 0; r < rounds; r++)
{
    // Alternate which side goes first, so drift of the machine during a round hits both.
    var batchesA = Batches(2000 + r);
    var batchesB = Batches(3000 + r);
    if (r % 2 == 0)
    {
        a.Add(await IngestAsync(off, batchesA));
        b.Add(await IngestAsync(on, batchesB));
    }
    else
    {
        b.Add(await IngestAsync(on, batchesB));
        a.Add(await IngestAsync(off, batchesA));
    }
    Console.WriteLine($"round {r + 1}: statistics off {a[^1]:N0}/s, on {b[^1]:N0}/s");
}
var medianA = Median(a);
var medianB = Median(b);
Console.WriteLine($"A/B ingest ({decisions:N0} decisions per round, {rounds} rounds, medians): off {medianA:N0}/s, on {medianB:N0}/s, cost {(1 - medianB / medianA) * 100:0.0} %");

// The statistics' own CPU per decision (DriftAccumulator.Add on the same batches, no database), against the ingest time per decision.
var alone = new DriftAccumulator(Microsoft.Extensions.Options.Options.Create(new DriftOptions()));
var cpuBatches = Batches(4000);
var cpu = new List<double>();
for (var r = 0; r < 5; r++)
{
    var sw = Stopwatch.StartNew();
    foreach (var batch in cpuBatches)
    {
        alone.Add(batch.Decisions, batch.Decisions.Count);
    }
    alone.Drain();
    cpu.Add(sw.Elapsed.TotalNanoseconds / decisions);
}
Console.WriteLine($"statistics CPU alone: median {Median(cpu):0} ns per decision (runs: {string.Join(", ", cpu.Select(t => t.ToString("0", CultureInfo.InvariantCulture)))}) = {Median(cpu) / (1e9 / medianA) * 100:0.00} % of the ingest time per decision with statistics off");

// C: drift evaluation over `days` of 5-minute windows standing for `represented` decisions.
var accumulator = on.Services.GetRequiredService<DriftAccumulator>();
var flusher = on.Services.GetRequiredService<DriftStatisticsFlusher>();
var windowMs = accumulator.WindowMs;
var end = accumulator.WindowStart(DateTimeOffset.UtcNow.AddDays(-2).ToUnixTimeMilliseconds());
var windows = (int)(days * 86_400_000L / windowMs);
var perWindow = Math.Max(1, represented / windows);
var rng = new Random(19);
string[] lengths = ["<16", "<32", "<64", "<128", "<256", "<512", "<1024"];
string[] models = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "claude-3-haiku", "llama-3.1-70b-instruct", "mistral-large", "gemini-1.5-flash"];
string[] outcomes = ["success", "fallback", "error", "timeout", "failure"];
var cellsWritten = 0L;
var fill = Stopwatch.StartNew();
for (var w = 0; w < windows; w++)
{
    var window = end - (windows - w) * windowMs;
    var cells = new Dictionary<DriftAccumulator.Cell, DriftAccumulator.Sums>();
    void Put(string feature, string value, long count) => cells[new DriftAccumulator.Cell(window, feature, value)] = new DriftAccumulator.Sums { Count = count };
    Put(DriftFeatures.Total, "", perWindow);
    foreach (var (feature, values) in new[] { (DriftFeatures.QueryLength, lengths), (DriftFeatures.SelectedModel, models), (DriftFeatures.Outcome, outcomes) })
    {
        foreach (var v in values)
        {
            Put(feature, v, perWindow / values.Length + rng.Next(10));
        }
    }
    Put(DriftFeatures.RequestedModel, "auto", perWindow);
    Put(DriftFeatures.ApiType, "chat_completion", perWindow);
    Put(DriftFeatures.Strategy, "llmrouter-knn", perWindow);
    cellsWritten += cells.Count;
    accumulator.Restore(cells);
    if (w % 500 == 499 || w == windows - 1)
    {
        await flusher.FlushAsync(CancellationToken.None);
    }
}
Console.WriteLine($"statistics: {windows:N0} windows × {cellsWritten / windows} cells = {cellsWritten:N0} rows standing for {(long)perWindow * windows:N0} decisions (written in {fill.Elapsed.TotalSeconds:0.0}s)");

var baselineUntil = DateTimeOffset.FromUnixTimeMilliseconds(end - windows / 6 * windowMs);
await using (var db = await on.Services.GetRequiredService<IDbContextFactory<TelemetryDbContext>>().CreateDbContextAsync())
{
    db.Datasets.Add(new DatasetRow
    {
        DatasetId = "bench-baseline", Uri = "file:///bench/", CreatedAtMs = baselineUntil.ToUnixTimeMilliseconds(),
        MetadataJson = new System.Text.Json.Nodes.JsonObject
        {
            ["source_window"] = new System.Text.Json.Nodes.JsonObject
            {
                ["since"] = DateTimeOffset.FromUnixTimeMilliseconds(end - windows * windowMs).ToString("O", CultureInfo.InvariantCulture),
                ["until"] = baselineUntil.ToString("O", CultureInfo.InvariantCulture),
            },
        }.ToJsonString(),
    });
    await db.SaveChangesAsync();
}
var evaluator = on.Services.GetRequiredService<DriftEvaluator>();
var request = new GetDecisionStatistics { Since = baselineUntil, BaselineDatasetId = "bench-baseline", PsiThreshold = 0.2, MinSamples = 5000 };
await evaluator.EvaluateAsync(request, CancellationToken.None);
var times = new List<double>();
DecisionStatistics result = null!;
for (var i = 0; i < 5; i++)
{
    var sw = Stopwatch.StartNew();
    result = await evaluator.EvaluateAsync(request, CancellationToken.None);
    times.Add(sw.Elapsed.TotalMilliseconds);
}
Console.WriteLine($"drift evaluation over {result.BaselineSamples + result.CurrentSamples:N0} decisions ({windows:N0} windows): median {Median(times):0.0} ms (runs: {string.Join(", ", times.Select(t => t.ToString("0", CultureInfo.InvariantCulture)))}); max PSI {result.MaxPsi:0.0000}, drifted {result.Drifted}");

await on.StopAsync();
await off.StopAsync();
return 0;

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

static async Task<WebApplication> StartAsync(string admin, string name, bool statistics)
{
    var database = $"bench_drift_{name}_{Guid.NewGuid():N}"[..40];
    await using (var connection = new NpgsqlConnection(admin))
    {
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{database}\"", connection);
        await command.ExecuteNonQueryAsync();
        command.CommandText = $"COMMENT ON DATABASE \"{database}\" IS 'routeiq-test'";
        await command.ExecuteNonQueryAsync();
    }
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
    builder.WebHost.UseUrls("http://127.0.0.1:0");
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["ConnectionStrings:RouteIQ"] = new NpgsqlConnectionStringBuilder(admin) { Database = database }.ConnectionString,
        ["RouteIQ:DataDir"] = Path.Combine(Path.GetTempPath(), "routeiq-bench-drift", database),
        ["RouteIQ:Telemetry:Drift:Enabled"] = statistics ? "true" : "false",
        ["Logging:LogLevel:Default"] = "Warning",
    });
    builder.AddServiceDefaults("telemetry-ingest");
    builder.AddTelemetryIngest();
    builder.AddRouteIQBus();
    var app = builder.Build();
    await app.StartAsync();
    return app;
}
