using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace RouteIQ.Cli;

/// <summary>
/// The demo's continuous-training act: once the first router is live, the world's traffic changes
/// (only code and math queries, from a client that names its model), telemetry-ingest's window
/// statistics drift from the production version's training window, the knn-router spec's
/// <c>continuous</c> policy fires, and the retrained version goes live — the demo only watches
/// (<c>GET /admin/continuous</c>, <c>GET /admin/jobs/{id}</c>); it makes no admin call.
/// </summary>
public static class DemoContinuous
{
    private const int ShiftedQueries = 500;
    private static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(4);

    /// <summary>Evaluate often and keep short statistics windows, so the act takes seconds, not minutes.</summary>
    public static void AddDefaults(IDictionary<string, string?> defaults)
    {
        defaults["RouteIQ:Continuous:EvaluateSeconds"] = "1";
        defaults["RouteIQ:Telemetry:Drift:WindowSeconds"] = "2";
        defaults["RouteIQ:Telemetry:Drift:FlushMilliseconds"] = "250";
    }

    public static async Task RunAsync(AdminClient client, int seed, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var policies = await client.SendAsync(HttpMethod.Get, "admin/continuous", cancellationToken: ct);
        if (!policies.Ok || policies.Body?["trainers"]?["knn-router"] is not JsonObject before)
        {
            AnsiConsole.MarkupLine("[grey]continuous training: knn-router has no continuous block; skipped[/]");
            return;
        }
        var lastRun = before["last"]?["run_id"]?.GetValue<string>();

        // The world shifts: code and math only (hard kinds), and the callers name gpt-4o.
        var world = new DemoWorld(seed + 2000);
        var chunk = new StringBuilder();
        var sent = 0;
        while (sent < ShiftedQueries * DemoWorld.Models.Length)
        {
            var query = world.NextQuery();
            if (query.KindName is not ("code" or "math"))
            {
                continue;
            }
            foreach (var e in world.Events(query, DateTimeOffset.UtcNow))
            {
                chunk.Append(e.Replace("\"requested_model\":\"auto\"", "\"requested_model\":\"gpt-4o\"", StringComparison.Ordinal)).Append('\n');
                sent++;
            }
            // Requests stay under the ingest endpoint's 1 MiB.
            if (chunk.Length > 700_000 || sent >= ShiftedQueries * DemoWorld.Models.Length)
            {
                using var content = new StringContent(chunk.ToString(), Encoding.UTF8, "application/x-ndjson");
                chunk.Clear();
                using var response = await client.Http.PostAsync("admin/telemetry/events", content, ct);
                if (!response.IsSuccessStatusCode)
                {
                    throw new InvalidOperationException($"ingest answered {(int)response.StatusCode}");
                }
            }
        }
        Step("the world shifts", sw, $"{sent:N0} decisions of code and math queries only, requested_model gpt-4o");

        // Watch the policy: drift detected, run started, job trained and rolled out.
        JsonObject? run = null;
        await AnsiConsole.Status().StartAsync("waiting for the continuous policy …", async ctx =>
        {
            while (sw.Elapsed < MaxWait)
            {
                var now = await client.SendAsync(HttpMethod.Get, "admin/continuous", cancellationToken: ct);
                var policy = now.Body?["trainers"]?["knn-router"];
                var last = policy?["last"] as JsonObject;
                var psi = policy?["max_psi"]?.ToJsonString() ?? "?";
                if (last is not null && last["run_id"]?.GetValue<string>() != lastRun)
                {
                    var state = last["job_state"]?.GetValue<string>() ?? last["state"]?.GetValue<string>();
                    ctx.Status($"retrain {last["trigger"]} · job {last["job_id"]} · {state} · {sw.Elapsed.TotalSeconds:0}s");
                    if (state is "succeeded" or "failed" or "cancelled")
                    {
                        run = last;
                        return;
                    }
                }
                else
                {
                    ctx.Status($"watching drift · max PSI {psi} · {sw.Elapsed.TotalSeconds:0}s");
                }
                await Task.Delay(500, ct);
            }
        });
        if (run is null)
        {
            AnsiConsole.MarkupLine($"[yellow]continuous training: no retrain within {MaxWait.TotalMinutes:0} minutes[/] (a cooldown from an earlier run on this data dir? see `routeiq continuous`)");
            return;
        }
        var details = run["details"] as JsonObject;
        var features = string.Join(", ", (details?["psi"] as JsonObject ?? []).OrderByDescending(p => p.Value?.GetValue<double>())
            .Select(p => $"{p.Key} {p.Value?.GetValue<double>().ToString("0.00", CultureInfo.InvariantCulture)}"));
        Step("drift detected", sw, $"{run["trigger"]}: max PSI {details?["max_psi"]} ≥ {details?["threshold"]} over {details?["current_samples"]} decisions ({features})");
        var job = await client.SendAsync(HttpMethod.Get, $"admin/jobs/{run["job_id"]}", cancellationToken: ct);
        var version = job.Body?["version"] ?? job.Body?["result"]?["version"];
        var status = await client.SendAsync(HttpMethod.Get, "status?name=knn-router", cancellationToken: ct);
        Step("retrained and live", sw, $"job {run["job_id"]} ({job.Body?["state"]}) on dataset {run["dataset"]} → now serving {status.Body?["model_name"]} v{status.Body?["model_version"]} — no admin call");
    }

    private static void Step(string name, Stopwatch sw, string detail)
        => AnsiConsole.MarkupLine($"[green]✓[/] [bold]continuous: {name}[/] [grey]({sw.Elapsed.TotalSeconds:0.0}s)[/] {Markup.Escape(detail)}");
}
