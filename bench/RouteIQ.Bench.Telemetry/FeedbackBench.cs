using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.TelemetryIngest;
using RouteIQ.TelemetryIngest.Datasets;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.Bench.Telemetry;

/// <summary>
/// Issue 17: a dataset build from N decisions (default 1,000,000) with G grades (default 300,000)
/// joined, against the same build without grades in the same run (baseline first, then the grades
/// are ingested, then the joined build); and grade ingest (parse + one write per 10,000) against the
/// same for decisions. PostgreSQL.
/// </summary>
internal static class FeedbackBench
{
    private const int Chunk = 10_000;

    public static async Task<int> RunAsync(Args options)
    {
        var count = options.Long("count", 1_000_000);
        var gradeCount = options.Long("grades", 300_000);
        var runs = options.Long("runs", 2);
        var database = await Infra.CreateDatabaseAsync("bench_fb");
        var dataDir = Infra.NewDataDir();
        try
        {
            await using var app = await Infra.StartHostAsync(database, dataDir, extra: new Dictionary<string, string?>
            {
                ["RouteIQ:Telemetry:StoreQueryText"] = "true",
            });
            var ingest = app.Services.GetRequiredService<IngestService>();
            var generator = new SyntheticTelemetry(seed: 97);

            var decisionsTime = await IngestAsync(ingest, count, i => generator.Event(i), IngestSources.File);
            Console.WriteLine(FormattableString.Invariant($"decisions: {count} parsed + stored in {decisionsTime.TotalSeconds:F1} s = {count / decisionsTime.TotalSeconds:F0}/s"));
            for (var run = 0; run < runs; run++)
            {
                await BuildAsync(app.Services, $"bench-fb-base-{run}", "baseline (no grades)");
            }

            // Grades of every third decision or so: (i * 10 / 3) spreads G grades over the first N decisions.
            var stride = Math.Max(1, count * 10 / Math.Max(1, gradeCount));
            var gradesTime = await IngestAsync(ingest, gradeCount, i => generator.Feedback(i * stride / 10 % count), IngestSources.File);
            Console.WriteLine(FormattableString.Invariant($"grades: {gradeCount} parsed + stored in {gradesTime.TotalSeconds:F1} s = {gradeCount / gradesTime.TotalSeconds:F0}/s; decisions {count / decisionsTime.TotalSeconds:F0}/s: ratio {gradeCount / gradesTime.TotalSeconds / (count / decisionsTime.TotalSeconds):F2}"));
            for (var run = 0; run < runs; run++)
            {
                await BuildAsync(app.Services, $"bench-fb-joined-{run}", "with grades");
            }
            await app.StopAsync();
        }
        finally
        {
            await Infra.DropDatabaseAsync(database);
            try
            {
                Directory.Delete(dataDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
        return 0;
    }

    private static async Task<TimeSpan> IngestAsync(IngestService ingest, long count, Func<long, byte[]> body, string source)
    {
        var sw = Stopwatch.StartNew();
        for (long start = 0; start < count; start += Chunk)
        {
            var batch = new IngestBatch(source);
            for (var i = start; i < Math.Min(count, start + Chunk); i++)
            {
                batch.Add(ingest.Parse(body(i), new DecisionContext(source)), i, () => "");
            }
            await ingest.WriteAsync(batch, CancellationToken.None);
        }
        return sw.Elapsed;
    }

    private static async Task BuildAsync(IServiceProvider services, string id, string label)
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        await using var scope = services.CreateAsyncScope();
        var builder = scope.ServiceProvider.GetRequiredService<DatasetBuilder>();
        var sw = Stopwatch.StartNew();
        var info = await builder.BuildAsync(new DatasetRequest
        {
            DatasetId = id,
            IncludeRoutingMetadata = true,
            ModelCatalog = SyntheticTelemetry.Catalog.ToDictionary(kv => kv.Key, kv => kv.Value),
        });
        var elapsed = sw.Elapsed;
        var feedback = info.Metadata!.Value.GetProperty("feedback");
        Console.WriteLine(FormattableString.Invariant(
            $"build {label}: {info.TotalRecords} records in {elapsed.TotalSeconds:F2} s; grades joined {feedback.GetProperty("grades_joined").GetInt64()}, graded observations {feedback.GetProperty("graded_observations").GetInt64()}, shadow {feedback.GetProperty("shadow_observations").GetInt64()}"));
    }
}
