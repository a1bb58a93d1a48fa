using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Testing;
using RouteIQ.TelemetryIngest.Inputs;

namespace RouteIQ.TelemetryIngest.Tests;

[Trait("Category", "Integration")]
public sealed class ImportFixture : IAsyncLifetime
{
    public TelemetryHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await TelemetryHost.StartAsync("ti-import", new Dictionary<string, string?>
    {
        ["RouteIQ:Telemetry:StoreQueryText"] = "true",
    });

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Jaeger backfill, JSONL files, the events endpoint and the summary (SQLite, query text stored).</summary>
[Trait("Category", "Integration")]
public sealed class ImportTests(ImportFixture fixture) : IClassFixture<ImportFixture>
{
    private TelemetryHost Host => fixture.Host;

    [Fact]
    public async Task AJaegerBackfillStoresContractEventsAndLegacySpans()
    {
        var recorded = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "Recorded", "jaeger-traces.json"));
        var queries = new List<string>();
        await using var jaeger = await StartJaegerAsync(recorded, queries);

        using var response = await Host.Client.PostAsJsonAsync("admin/telemetry/jaeger", new
        {
            url = jaeger.Urls.First(),
            service = "litellm-gateway",
            start = 1780300000000000L,
            end = 1780400000000000L,
            limit = 50,
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var report = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(3, report.GetProperty("received").GetInt64());
        Assert.Equal(1, report.GetProperty("rejected").GetInt64());
        Assert.Contains("routeiq.router_decision.payload missing", report.GetProperty("rejections")[0].GetProperty("reason").GetString());
        Assert.Equal("?service=litellm-gateway&start=1780300000000000&end=1780400000000000&limit=50", Assert.Single(queries));

        await using var db = await Host.DbAsync();
        var decision = await db.Decisions.SingleAsync(d => d.EventId == "7a1c2a9e-6b1d-4c1e-9a4f-0d2b7e8c9a12");
        Assert.Equal("jaeger", decision.Source);
        Assert.Equal("decision", decision.Kind);
        Assert.Equal("llmrouter-knn", decision.StrategyName);
        var legacy = await db.Decisions.SingleAsync(d => d.SpanId == "b1f067aa0ba902b9");
        Assert.Equal("legacy", legacy.Kind);
        Assert.Equal("gpt-4o-2024-08-06", legacy.SelectedDeployment);
        Assert.Equal("Summarize the quarterly report in three bullet points", legacy.QueryText);
        Assert.Equal("0000000000000000a3ce929d0e0e4736", legacy.TraceId);
        Assert.Equal(1250, legacy.TotalMs);
        Assert.Equal(420, legacy.TotalTokens);

        // Importing the same window again stores nothing twice.
        var again = await Host.Services.GetRequiredService<JaegerImporter>()
            .ImportAsync(new JaegerQuery(new Uri(jaeger.Urls.First()), "litellm-gateway", 1780300000000000L, 1780400000000000L, 50));
        Assert.Equal(0, again.Stored);
        Assert.Equal(2, again.Duplicates);
    }

    [Fact]
    public async Task A_jaeger_span_with_invalid_utf8_is_rejected_with_its_bytes_and_the_spans_around_it_are_stored()
    {
        var recorded = await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "Recorded", "jaeger-traces.json"));
        var importer = Host.Services.GetRequiredService<JaegerImporter>();
        var clean = await importer.ImportResponseAsync(new MemoryStream(recorded));
        // The same response with one more span first in the first trace: its decision payload holds 0xFF 0xFE.
        byte[] bad = [.. """{"traceID":"4bf92f3577b34da6a3ce929d0e0e47fe","spanID":"00f067aa0ba902fe","logs":[{"fields":[{"key":"event","value":"routeiq.router_decision.v1"},{"key":"routeiq.router_decision.payload","value":"{\"event_id\":\"x"""u8,
            0xFF, 0xFE, .. """\"}"}]}]},"""u8];
        var at = recorded.AsSpan().IndexOf("\"spans\": ["u8) + "\"spans\": ["u8.Length;
        Assert.True(at > 20);
        byte[] hostile = [.. recorded.AsSpan(0, at), .. bad, .. recorded.AsSpan(at)];
        var before = await RejectedCountAsync();

        var report = await importer.ImportResponseAsync(new MemoryStream(hostile));

        Assert.Equal(clean.Received + 1, report.Received);
        Assert.Equal(clean.Stored + clean.Duplicates, report.Stored + report.Duplicates);
        Assert.Equal(clean.Rejected + 1, report.Rejected);
        Assert.Contains(report.Rejections, r => r.Index == 0 && r.Reason.Contains("not valid UTF-8", StringComparison.Ordinal));
        Assert.Equal(before + 1 + clean.Rejected, await RejectedCountAsync());
        await using var db = await Host.DbAsync();
        var row = await db.RejectedEvents.OrderByDescending(r => r.Id).FirstAsync(r => r.Reason.Contains("not valid UTF-8"));
        Assert.Equal(bad[..^1], Convert.FromBase64String(row.RawBody["base64:".Length..]));
    }

    private async Task<int> RejectedCountAsync()
    {
        await using var db = await Host.DbAsync();
        return await db.RejectedEvents.CountAsync();
    }

    [Fact]
    public async Task AJaegerThatAnswersAnErrorIsReportedAs502()
    {
        await using var jaeger = await StartJaegerAsync("not json"u8.ToArray(), []);

        using var response = await Host.Client.PostAsJsonAsync("admin/telemetry/jaeger", new { url = jaeger.Urls.First(), service = "gw" });

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("not JSON", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AJsonlFileIsImportedLineByLineWithProgress()
    {
        var generator = new SyntheticTelemetry(seed: 41, start: new DateTimeOffset(2026, 7, 1, 0, 0, 0, TimeSpan.Zero));
        var path = Path.Combine(TestInfra.TempDirectory("ti-jsonl"), "routing_decisions.jsonl");
        var lines = Enumerable.Range(0, 300).Select(i => Encoding.UTF8.GetString(generator.Event(i))).ToList();
        lines.Insert(10, "");
        lines.Insert(20, "{\"contract_name\":\"routeiq.router_decision.v1\",\"outcome\":{\"status\":42}}");
        lines.Add("""{"query":"What is 2+2?","model_name":"llama-3.1-70b-instruct","response":"4","response_time":0.8,"token_num":12,"input_tokens":6,"output_tokens":6,"task_name":"math","trace_id":"4bf92f3577b34da6a3ce929d0e0e47aa","span_id":"00f067aa0ba902aa","timestamp":1782864000000000,"performance":0.9,"ground_truth":"4"}""");
        await File.WriteAllTextAsync(path, string.Join("\r\n", lines));
        var progress = new List<long>();

        var report = await Host.Services.GetRequiredService<JsonlImporter>().ImportFileAsync(path, new SyncProgress(progress.Add));

        Assert.Equal(302, report.Received);
        Assert.Equal(301, report.Stored);
        Assert.Equal(1, report.Rejected);
        Assert.Equal(21, Assert.Single(report.Rejections).Index);
        Assert.Contains("outcome.status: expected a string, got a number", report.Rejections[0].Reason);
        Assert.Equal(new FileInfo(path).Length, progress[^1]);
        await using var db = await Host.DbAsync();
        var legacy = await db.Decisions.SingleAsync(d => d.SpanId == "00f067aa0ba902aa");
        Assert.Equal(0.9, legacy.Performance);
        Assert.Equal("What is 2+2?", legacy.QueryText);
        Assert.NotNull((await db.Decisions.SingleAsync(d => d.EventId == generator.EventId(5))).QueryText);
    }

    [Fact]
    public async Task TheEventsEndpointAcceptsNdjsonAndJsonArrays()
    {
        var generator = new SyntheticTelemetry(seed: 42, start: new DateTimeOffset(2026, 8, 1, 0, 0, 0, TimeSpan.Zero));
        var ndjson = string.Join("\n", Enumerable.Range(0, 5).Select(i => Encoding.UTF8.GetString(generator.Event(i))));
        var array = "[" + string.Join(",", Enumerable.Range(5, 5).Select(i => Encoding.UTF8.GetString(generator.Event(i)))) + ",{\"contract_name\":\"routeiq.router_decision.v1\",\"contract_version\":\"v3\"}]";

        using var first = await Host.Client.PostAsync("admin/telemetry/events", new StringContent(ndjson, Encoding.UTF8, "application/x-ndjson"));
        using var second = await Host.Client.PostAsync("admin/telemetry/events", new StringContent(array, Encoding.UTF8, "application/json"));
        using var malformed = await Host.Client.PostAsync("admin/telemetry/events", new StringContent("[{", Encoding.UTF8, "application/json"));

        Assert.Equal(5, (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("stored").GetInt64());
        var report = await second.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(5, report.GetProperty("stored").GetInt64());
        Assert.Equal(5, report.GetProperty("rejections")[0].GetProperty("index").GetInt64());
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal(10, await Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(10)));
    }

    [Fact]
    public async Task TheSummaryCountsAWindow()
    {
        var start = new DateTimeOffset(2026, 9, 1, 0, 0, 0, TimeSpan.Zero);
        var generator = new SyntheticTelemetry(seed: 43, start: start);
        var body = string.Join("\n", Enumerable.Range(0, 200).Select(i => Encoding.UTF8.GetString(generator.Event(i))));
        using var post = await Host.Client.PostAsync("admin/telemetry/events", new StringContent(body, Encoding.UTF8, "application/x-ndjson"));
        post.EnsureSuccessStatusCode();

        var summary = await Host.Client.GetFromJsonAsync<JsonElement>(
            $"admin/telemetry/summary?since={Uri.EscapeDataString(start.ToString("O"))}&until={start.AddSeconds(2).ToUnixTimeMilliseconds()}");

        Assert.Equal(200, summary.GetProperty("decisions").GetInt64());
        Assert.Equal(200, summary.GetProperty("by_model").EnumerateObject().Sum(p => p.Value.GetInt64()));
        Assert.Equal(200, summary.GetProperty("by_strategy").EnumerateObject().Sum(p => p.Value.GetInt64()));
        Assert.True(summary.GetProperty("by_outcome").GetProperty("success").GetInt64() > 150);
        var latency = summary.GetProperty("latency_ms");
        Assert.True(latency.GetProperty("p50").GetDouble() <= latency.GetProperty("p95").GetDouble());
        Assert.True(latency.GetProperty("p95").GetDouble() <= latency.GetProperty("p99").GetDouble());
        Assert.True(summary.GetProperty("tokens").GetProperty("total").GetInt64() > 0);
        using var bad = await Host.Client.GetAsync("admin/telemetry/summary?since=yesterday");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("since", await bad.Content.ReadAsStringAsync());
    }

    /// <summary>A recorded Jaeger query service on loopback.</summary>
    private static async Task<WebApplication> StartJaegerAsync(byte[] response, List<string> queries)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapGet("/api/traces", async (HttpContext context) =>
        {
            lock (queries)
            {
                queries.Add(context.Request.QueryString.Value ?? "");
            }
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync(response);
        });
        await app.StartAsync();
        return app;
    }

    private sealed class SyncProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
