using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using RouteIQ.ServiceDefaults;
using Spectre.Console;

namespace RouteIQ.Cli;

/// <summary>
/// <c>routeiq demo</c>: the whole loop on the embedded defaults, in this process — synthetic
/// routing telemetry in, a dataset built, the knn-router spec trained and rolled out, queries
/// routed through the stable endpoint, and the router's quality and price set beside the best
/// single model's. The system keeps running afterwards unless <c>--exit</c>.
/// </summary>
public static class DemoCommand
{
    public static Command Build()
    {
        var urls = new Option<string>("--urls") { Description = "Where the admin API listens", DefaultValueFactory = _ => EmbeddedHost.DefaultUrl };
        var queries = new Option<int>("--queries") { Description = "Distinct queries in the synthetic telemetry (6 events each)", DefaultValueFactory = _ => 1200 };
        var seed = new Option<int>("--seed") { Description = "Seed of the synthetic world", DefaultValueFactory = _ => 7 };
        var exit = new Option<bool>("--exit") { Description = "Stop when the demo is done instead of leaving the system running" };
        var command = new Command("demo", "Run the whole loop in this process: telemetry → dataset → train → roll out → route queries") { urls, queries, seed, exit };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            if (CliUsage.UnknownOption(parse, command) is { } unknown)
            {
                Output.Error(unknown);
                return ExitCodes.Usage;
            }
            CliUsage.RequireUrls(parse.GetValue(urls)!);
            var (started, startCode) = await EmbeddedHost.StartAsync(["--urls", parse.GetValue(urls)!, .. parse.UnmatchedTokens], Defaults(), ct);
            if (started is not { } app)
            {
                return startCode;
            }

            // Disposing the host is what stops the router servers the embedded rollout started.
            await using var _ = app;
            int code;
            try
            {
                code = await RunAsync(app, parse.GetValue(queries), parse.GetValue(seed), ct);
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidOperationException or TaskCanceledException)
            {
                Output.Error($"demo failed: {ex.Message}");
                code = ExitCodes.JobFailed;
            }

            if (parse.GetValue(exit) || code != ExitCodes.Ok)
            {
                await app.StopAsync(CancellationToken.None);
                return code;
            }
            AnsiConsole.MarkupLine("\n[green]RouteIQ keeps running[/] — explore it (Ctrl+C to stop):");
            var admin = AdminUrl(app);
            AnsiConsole.MarkupLine($"  [grey]dotnet run --project cli/RouteIQ.Cli -- --server {admin} status[/]");
            AnsiConsole.MarkupLine($"  [grey]dotnet run --project cli/RouteIQ.Cli -- --server {admin} jobs[/]");
            AnsiConsole.MarkupLine($"  [grey]open {admin}/scalar/v1 for the admin API[/]");
            AnsiConsole.MarkupLine($"  [grey]open {admin}/ui for the dashboard[/]");
            await app.WaitForShutdownAsync(CancellationToken.None);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Dictionary<string, string?> Defaults()
    {
        var defaults = new Dictionary<string, string?>
        {
            // Datasets need query text; the demo's telemetry carries it in custom_attributes.
            ["RouteIQ:Telemetry:StoreQueryText"] = "true",
            // The demo narrates each step itself; service logs would drown it.
            ["Logging:LogLevel:Default"] = "Warning",
            // The served router explores, so its answers are a logging policy with known propensities.
            [DemoLearning.ServeExplorationKey] = DemoLearning.ServeExploration,
        };
        DemoContinuous.AddDefaults(defaults);
        return defaults;
    }

    private static string AdminUrl(WebApplication app)
        => app.Urls.FirstOrDefault()?.TrimEnd('/') ?? EmbeddedHost.DefaultUrl;

    private static async Task<int> RunAsync(WebApplication app, int queryCount, int seed, CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        var admin = AdminUrl(app);
        var apiKey = app.Configuration.GetSection(AdminAuth.Section).GetChildren().Select(c => c.Value).FirstOrDefault(v => !string.IsNullOrEmpty(v));
        using var client = CliServer.Client(admin, apiKey);
        AnsiConsole.Write(new Rule("[bold]RouteIQ demo[/] — the whole loop, embedded").LeftJustified());
        RouteIQCli.PrintWhere(app);

        // 1. Telemetry.
        var world = new DemoWorld(seed);
        var windowStart = DateTimeOffset.UtcNow.AddSeconds(-1);
        var sw = Stopwatch.StartNew();
        long stored = 0, rejected = 0, duplicates = 0;
        var chunk = new StringBuilder();
        var sent = 0;
        for (var q = 0; q < queryCount; q++)
        {
            var query = world.NextQuery();
            foreach (var e in world.Events(query, DateTimeOffset.UtcNow))
            {
                chunk.Append(e).Append('\n');
                sent++;
            }
            if (chunk.Length > 700_000 || q == queryCount - 1)
            {
                using var content = new StringContent(chunk.ToString(), Encoding.UTF8, "application/x-ndjson");
                chunk.Clear();
                using var response = await client.Http.PostAsync("admin/telemetry/events", content, ct);
                var report = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct));
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"ingest answered {(int)response.StatusCode}: {report?.ToJsonString()}");
                }
                stored += report?["stored"]?.GetValue<long>() ?? 0;
                rejected += report?["rejected"]?.GetValue<long>() ?? 0;
                duplicates += report?["duplicates"]?.GetValue<long>() ?? 0;
            }
        }
        Step(1, "telemetry", sw, $"{sent:N0} routeiq.router_decision.v1 events for {queryCount:N0} queries of 6 kinds × {DemoWorld.Models.Length} models → {stored:N0} stored, {duplicates:N0} duplicates, {rejected:N0} rejected");
        var graded = await DemoJudge.GradeAsync(client, world, ct);
        AnsiConsole.MarkupLine($"   [grey]a judge graded {graded:N0} of them ({100.0 * graded / Math.Max(1, sent):0}%) later: routeiq.router_feedback.v1 over POST /v1/feedback[/]");

        // 2. Dataset.
        sw.Restart();
        var datasetRequest = new JsonObject
        {
            ["since"] = windowStart,
            ["until"] = DateTimeOffset.UtcNow.AddSeconds(1),
            ["test_split"] = 0.2,
            ["seed"] = 42,
            // Labels from the judge's grades only: an ungraded decision says nothing about its quality.
            ["graded_only"] = true,
            ["model_catalog"] = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(DemoWorld.Catalog())),
        };
        var dataset = await client.SendAsync(HttpMethod.Post, "admin/datasets", datasetRequest, cancellationToken: ct);
        if (!dataset.Ok)
        {
            throw new InvalidOperationException($"dataset build failed: {dataset.ErrorMessage()}");
        }
        var datasetUri = dataset.Body!["uri"]!.GetValue<string>();
        Step(2, "dataset", sw, $"{dataset.Body["dataset_id"]}: {dataset.Body["train_records"]} train / {dataset.Body["test_records"]} test records, {dataset.Body["unique_queries"]} unique queries → {datasetUri}");

        // 3. Train, register and roll out.
        sw.Restart();
        // COST_WEIGHT trades quality for price: a frontier model must be worth 0.005 quality per $/M tokens.
        var trainBody = new JsonObject
        {
            ["dataset"] = dataset.Body["dataset_id"]!.GetValue<string>(),
            ["parameters"] = new JsonObject { ["K"] = 15, ["COST_WEIGHT"] = 0.005 },
        };
        ApiResponse trained = null!;
        await AnsiConsole.Status().StartAsync("train_then_roll knn-router …", async ctx =>
        {
            var call = client.SendAsync(HttpMethod.Post, "admin/train_then_roll/knn-router", trainBody, cancellationToken: ct);
            while (!call.IsCompleted)
            {
                ctx.Status($"train_then_roll knn-router · {sw.Elapsed.TotalSeconds:0}s");
                await Task.WhenAny(call, Task.Delay(250, ct));
            }
            trained = await call;
        });
        if (!trained.Ok)
        {
            throw new InvalidOperationException($"train_then_roll failed: {trained.ErrorMessage()}\n{trained.Text}");
        }
        var metrics = trained.Body!["metrics"] as JsonObject;
        Step(3, "train + roll", sw, $"job {trained.Body["job_id"]}: {trained.Body["registered_model"]} v{trained.Body["version"]} trained in {trained.Body["duration_seconds"]}s, alias @{trained.Body["alias"]} → {trained.Body["public_url"]}");

        // 4. Route fresh queries through the stable endpoint.
        sw.Restart();
        var publicUrl = trained.Body["public_url"]!.GetValue<string>().TrimEnd('/');
        var evalWorld = new DemoWorld(seed + 1000);
        var evalQueries = Enumerable.Range(0, 400).Select(_ => evalWorld.NextQuery()).ToList();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        using var routed = await http.PostAsJsonAsync($"{publicUrl}/invocations", new { queries = evalQueries.Select(q => q.Text).ToArray() }, ct);
        var routedBody = JsonNode.Parse(await routed.Content.ReadAsStringAsync(ct));
        if (!routed.IsSuccessStatusCode || routedBody?["results"] is not JsonArray results)
        {
            throw new InvalidOperationException($"stable endpoint answered {(int)routed.StatusCode}: {routedBody?.ToJsonString()}");
        }
        var oneQuery = Stopwatch.StartNew();
        using (var single = await http.PostAsJsonAsync($"{publicUrl}/invocations", new { query = evalQueries[0].Text }, ct))
        {
            single.EnsureSuccessStatusCode();
        }
        oneQuery.Stop();
        Step(4, "route", sw, $"{evalQueries.Count} unseen queries routed through {publicUrl}/invocations (one query round trip {oneQuery.Elapsed.TotalMilliseconds:0.0} ms)");

        // 5. Quality and price against the best single model and the oracle (ground truth).
        var names = DemoWorld.Models.Select(m => m.Name).ToList();
        var chosen = DemoLearning.GreedyChoices(results);
        var best = DemoWorld.BestSingleModel();
        double routerQuality = 0, routerPrice = 0, bestQuality = 0, oracleQuality = 0, cheapQuality = 0;
        var cheapest = Enumerable.Range(0, names.Count).MinBy(m => DemoWorld.Models[m].Price);
        for (var i = 0; i < evalQueries.Count; i++)
        {
            var k = evalQueries[i].KindIndex;
            var m = chosen[i] < 0 ? best : chosen[i];
            routerQuality += DemoWorld.TrueQuality(k, m);
            routerPrice += DemoWorld.Models[m].Price;
            bestQuality += DemoWorld.TrueQuality(k, best);
            cheapQuality += DemoWorld.TrueQuality(k, cheapest);
            oracleQuality += Enumerable.Range(0, names.Count).Max(j => DemoWorld.TrueQuality(k, j));
        }
        var n = evalQueries.Count;
        var table = new Table().Border(TableBorder.Rounded).Title("quality on unseen queries (ground truth of the synthetic world)")
            .AddColumn("router").AddColumn(new TableColumn("avg quality").RightAligned()).AddColumn(new TableColumn("% of oracle").RightAligned())
            .AddColumn(new TableColumn("avg price $/M tok").RightAligned());
        void Row(string name, double quality, double price) => table.AddRow(Markup.Escape(name),
            (quality / n).ToString("0.000", CultureInfo.InvariantCulture),
            (100 * quality / oracleQuality).ToString("0.0", CultureInfo.InvariantCulture),
            double.IsNaN(price) ? "—" : price.ToString("0.000", CultureInfo.InvariantCulture));
        Row($"knn-router v{trained.Body["version"]} (trained)", routerQuality, routerPrice / n);
        Row($"best single model ({names[best]})", bestQuality, DemoWorld.Models[best].Price);
        Row($"cheapest model ({names[cheapest]})", cheapQuality, DemoWorld.Models[cheapest].Price);
        Row("oracle (best model per query)", oracleQuality, double.NaN);
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[grey]dashboard:[/] {admin}/ui/models/{Markup.Escape(trained.Body["registered_model"]?.ToString() ?? "")} [grey](jobs: {admin}/ui/jobs)[/]");
        var share = chosen.GroupBy(c => c < 0 ? "?" : names[c]).OrderByDescending(g => g.Count())
            .Select(g => $"{g.Key} {100.0 * g.Count() / n:0}%");
        AnsiConsole.MarkupLine($"[grey]calls per model:[/] {Markup.Escape(string.Join(", ", share))}");
        if (metrics is not null && metrics["avg_quality"] is not null)
        {
            AnsiConsole.MarkupLine($"[grey]trainer's own held-out metrics:[/] avg_quality {metrics["avg_quality"]}, routing_accuracy {metrics["routing_accuracy"]}, avg_price {metrics["avg_price"]}");
        }
        AnsiConsole.MarkupLine($"[bold]router vs best single model:[/] quality {routerQuality / bestQuality * 100 - 100:+0.0;-0.0}% at {routerPrice / n / DemoWorld.Models[best].Price * 100:0}% of its price");
        DemoLearning.Print(evalQueries, results, seed);

        // 6. What a RouteIQ gateway needs to load it.
        var status = await client.SendAsync(HttpMethod.Get, "status", cancellationToken: ct);
        AnsiConsole.Write(new Panel(new Text(
            $"routing_strategy: llmrouter-knn\nmodel_s3_bucket: <bucket of RouteIQ:Artifacts:Uri>\nmodel_s3_key: models/knn-router/\nhot_reload: true\n# active: {status.Body?["model_name"]} v{status.Body?["model_version"]} at {status.Body?["model_uri"]}"))
            .Header("gateway settings for the rolled-out model"));
        await DemoContinuous.RunAsync(client, seed, ct);
        AnsiConsole.MarkupLine($"[green]demo complete[/] in {total.Elapsed.TotalSeconds:0.0}s");
        return ExitCodes.Ok;
    }

    private static void Step(int number, string name, Stopwatch sw, string detail)
        => AnsiConsole.MarkupLine($"[green]✓[/] [bold]{number}. {name}[/] [grey]({sw.Elapsed.TotalSeconds:0.0}s)[/] {Markup.Escape(detail)}");
}
