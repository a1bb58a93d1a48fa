using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using RouteIQ.GatewayAdmin.Continuous;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest;
using RouteIQ.TelemetryIngest.Drift;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// Real telemetry-ingest (in this process, on the test's broker and database) beside gateway-admin
/// replicas whose continuous-training clock is a <see cref="FakeTimeProvider"/>; the evaluation
/// loop is parked (one hour) and the tests evaluate by hand, both replicas at once.
/// </summary>
public static class ContinuousTestWorld
{
    public const int WindowSeconds = 60;

    public static Dictionary<string, string?> AdminSettings() => new()
    {
        ["RouteIQ:Continuous:EvaluateSeconds"] = "3600",
        ["RouteIQ:Continuous:BuildTimeoutSeconds"] = "120",
    };

    public static Task<AdminTestHost> StartAdminAsync(string vhost, string db, string specs, FakeTimeProvider clock, FakeCluster? cluster = null)
        => AdminTestHost.StartAsync(vhost, db, specs, AdminSettings(), b =>
        {
            if (cluster is not null)
            {
                FakeCluster.AddTo(b, cluster);
            }
            b.Services.AddSingleton(new ContinuousClock(clock));
        });

    public static async Task<WebApplication> StartTelemetryAsync(string vhost, string db)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = vhost,
            ["ConnectionStrings:RouteIQ"] = db,
            ["RouteIQ:DataDir"] = TestInfra.TempDirectory("continuous-telemetry"),
            ["RouteIQ:Telemetry:Drift:WindowSeconds"] = WindowSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RouteIQ:Telemetry:Drift:FlushMilliseconds"] = "100",
            ["RouteIQ:ShutdownGraceSeconds"] = "5",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.Logging.ClearProviders();
        builder.AddServiceDefaults("telemetry-ingest");
        builder.AddTelemetryIngest();
        builder.AddRouteIQBus();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapTelemetryIngestApi();
        await app.StartAsync();
        return app;
    }

    /// <summary>
    /// <paramref name="count"/> decisions from <see cref="SyntheticTelemetry"/> (10 ms apart from
    /// <paramref name="start"/>); <paramref name="shifted"/> moves the query mix: 6× longer queries, and
    /// callers asking for <c>gpt-4o</c> by name instead of <c>auto</c>.
    /// </summary>
    public static IEnumerable<string> Events(int seed, int count, DateTimeOffset start, bool shifted)
    {
        var synthetic = new SyntheticTelemetry(seed, start, includeQueryText: false);
        for (var i = 0; i < count; i++)
        {
            var e = JsonNode.Parse(synthetic.Event(i))!.AsObject();
            if (shifted)
            {
                var input = e["input"]!.AsObject();
                input["query_length"] = input["query_length"]!.GetValue<int>() * 6;
                input["requested_model"] = "gpt-4o";
            }
            yield return e.ToJsonString();
        }
    }

    /// <summary>Ingests over HTTP (as a gateway would) and writes the window statistics at once.</summary>
    public static async Task IngestAsync(WebApplication telemetry, IEnumerable<string> events)
    {
        using var http = new HttpClient { BaseAddress = new Uri(telemetry.Urls.First()) };
        foreach (var chunk in events.Chunk(400))
        {
            using var content = new StringContent(string.Join('\n', chunk), Encoding.UTF8, "application/x-ndjson");
            var response = await http.PostAsync("/admin/telemetry/events", content);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
        await telemetry.Services.GetRequiredService<DriftStatisticsFlusher>().FlushAsync(CancellationToken.None);
    }

    /// <summary>A <c>routeiq.router_feedback.v1</c> grade of decision <paramref name="decisionEventId"/> (model null: the model it chose).</summary>
    public static string Grade(string feedbackId, string decisionEventId, double score, DateTimeOffset at, string? model = null) => new JsonObject
    {
        ["contract_name"] = "routeiq.router_feedback.v1",
        ["feedback_id"] = feedbackId,
        ["decision_event_id"] = decisionEventId,
        ["model_name"] = model,
        ["score"] = score,
        ["source"] = "judge",
        ["judge_model"] = "gpt-4o",
        ["timestamp_unix_ms"] = at.ToUnixTimeMilliseconds(),
    }.ToJsonString();

    /// <summary>Posts grades to <c>POST /v1/feedback</c> (as a judge would) and writes the window statistics at once; returns the ingest reports.</summary>
    public static async Task<List<JsonObject>> PostFeedbackAsync(WebApplication telemetry, IEnumerable<string> grades)
    {
        using var http = new HttpClient { BaseAddress = new Uri(telemetry.Urls.First()) };
        var reports = new List<JsonObject>();
        foreach (var chunk in grades.Chunk(250))
        {
            using var content = new StringContent(string.Join('\n', chunk), Encoding.UTF8, "application/x-ndjson");
            var response = await http.PostAsync("/v1/feedback", content);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, body);
            reports.Add(JsonNode.Parse(body)!.AsObject());
        }
        await telemetry.Services.GetRequiredService<DriftStatisticsFlusher>().FlushAsync(CancellationToken.None);
        return reports;
    }

    public static async Task<JsonObject> BuildDatasetAsync(WebApplication telemetry, DateTimeOffset since, DateTimeOffset until)
    {
        using var http = new HttpClient { BaseAddress = new Uri(telemetry.Urls.First()) };
        var response = await http.PostAsJsonAsync("/admin/datasets", new { since, until });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonNode.Parse(body)!.AsObject();
    }

    /// <summary>Both replicas evaluate <paramref name="rounds"/> times, all at once; returns the runs claimed.</summary>
    public static async Task<int> EvaluateConcurrentlyAsync(int rounds, params AdminTestHost[] replicas)
    {
        var engines = replicas.Select(r => r.Services.GetRequiredService<ContinuousEngine>()).ToList();
        var claims = await Task.WhenAll(Enumerable.Range(0, rounds).SelectMany(_ => engines.Select(e => Task.Run(() => e.EvaluateAllAsync(CancellationToken.None)))));
        await Task.WhenAll(engines.Select(e => e.DrainAsync()));
        return claims.Sum(c => c.Count);
    }

    public static async Task<List<ContinuousRun>> RunsAsync(AdminTestHost host, string trainer)
    {
        await using var db = await host.Services.GetRequiredService<IDbContextFactory<LedgerDbContext>>().CreateDbContextAsync();
        return await db.ContinuousRuns.AsNoTracking().Where(r => r.Trainer == trainer).OrderBy(r => r.ClaimedAt).ToListAsync();
    }

    /// <summary>Midnight UTC <paramref name="days"/> days ago: schedules fall where a test expects them whatever the hour it runs.</summary>
    public static DateTimeOffset DaysAgo(int days) => new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero).AddDays(-days);
}
