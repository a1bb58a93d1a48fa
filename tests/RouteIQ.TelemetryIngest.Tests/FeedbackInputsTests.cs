using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;
using RouteIQ.Cli;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

public sealed class FeedbackInputsFixture : IAsyncLifetime
{
    public TelemetryHost Host { get; private set; } = null!;

    // Embedded composition: SQLite, in-memory bus.
    public async Task InitializeAsync() => Host = await TelemetryHost.StartAsync("ti-feedback", new Dictionary<string, string?>
    {
        ["RouteIQ:Telemetry:StoreQueryText"] = "true",
    });

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Grades come in over every road decisions use (HTTP, files, OTLP, the CLI), deduplicated by feedback_id, bad ones rejected with their reason.</summary>
[Trait("Category", "Integration")]
public sealed class FeedbackArrivesOverEveryInputTests(FeedbackInputsFixture fixture) : IClassFixture<FeedbackInputsFixture>
{
    private TelemetryHost Host => fixture.Host;

    private async Task<int> CountAsync(params string[] ids)
    {
        await using var db = await Host.DbAsync();
        return await db.Feedback.CountAsync(f => ids.Contains(f.FeedbackId));
    }

    [Fact]
    public async Task NdjsonToV1FeedbackStoresGoodGradesBesideBadOnesAndDropsDuplicates()
    {
        var decision = Guid.NewGuid().ToString("D");
        var marker = Guid.NewGuid().ToString("N");
        var a = Guid.NewGuid().ToString("D");
        var b = Guid.NewGuid().ToString("D");
        string[] lines =
        [
            FeedbackEvents.Grade(decision, 0.9, "user", feedbackId: a),
            FeedbackEvents.Grade(decision, 1.5, "judge").Replace("r-1", marker, StringComparison.Ordinal),
            FeedbackEvents.Grade(decision, 0.4, "judge", feedbackId: b),
            FeedbackEvents.Grade(decision, 0.4, "robot").Replace("r-1", marker, StringComparison.Ordinal),
            FeedbackEvents.Grade(decision, 0.9, "user", feedbackId: a),
            // A decision is not a grade: /v1/feedback takes grades only.
            FeedbackEvents.Decision(Guid.NewGuid().ToString("D"), 1_700_000_000_000, "gpt-4o", marker),
        ];

        var report = await FeedbackEvents.PostNdjsonAsync(Host.Client, "v1/feedback", lines);

        Assert.Equal(6, report.GetProperty("received").GetInt64());
        Assert.Equal(2, report.GetProperty("stored").GetInt64());
        Assert.Equal(2, report.GetProperty("feedback_stored").GetInt64());
        Assert.Equal(1, report.GetProperty("duplicates").GetInt64());
        Assert.Equal(3, report.GetProperty("rejected").GetInt64());
        var reasons = report.GetProperty("rejections").EnumerateArray().Select(r => (r.GetProperty("index").GetInt64(), r.GetProperty("reason").GetString()!)).ToList();
        Assert.StartsWith("score: must be in [0, 1]", reasons.Single(r => r.Item1 == 2).Item2);
        Assert.StartsWith("source: unknown value 'robot'", reasons.Single(r => r.Item1 == 4).Item2);
        Assert.StartsWith("contract_name: 'routeiq.router_decision.v1' is not routeiq.router_feedback.v1", reasons.Single(r => r.Item1 == 6).Item2);
        Assert.Equal(2, await CountAsync(a, b));
        var rejected = (await Host.RejectedAsync()).Where(r => r.RawBody.Contains(marker, StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rejected.Count);
        Assert.All(rejected, r => Assert.Equal("http", r.Source));

        // Redelivered later: counted and dropped, never stored twice.
        var again = await FeedbackEvents.PostNdjsonAsync(Host.Client, "v1/feedback", [lines[0], lines[2]]);
        Assert.Equal(0, again.GetProperty("stored").GetInt64());
        Assert.Equal(2, again.GetProperty("feedback_duplicates").GetInt64());
    }

    [Fact]
    public async Task AJsonArrayToV1FeedbackIsStoredAndAMalformedOneIsA400NamingTheBody()
    {
        var ids = new[] { Guid.NewGuid().ToString("D"), Guid.NewGuid().ToString("D") };
        var body = "[" + string.Join(",", ids.Select(id => FeedbackEvents.Grade(Guid.NewGuid().ToString("D"), 0.5, "task", feedbackId: id))) + "]";
        using (var response = await Host.Client.PostAsync("v1/feedback", new StringContent(body, Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(2, await CountAsync(ids));

        using var bad = await Host.Client.PostAsync("v1/feedback", new StringContent("[{\"contract_name\":", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var problem = await bad.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("body", problem.GetProperty("field").GetString());
    }

    [Fact]
    public async Task AJsonlFileWithBothContractsStoresEachInItsOwnTable()
    {
        var start = new DateTimeOffset(2026, 4, 2, 0, 0, 0, TimeSpan.Zero);
        var decisions = Enumerable.Range(0, 3).Select(_ => Guid.NewGuid().ToString("D")).ToList();
        var grades = decisions.Select(_ => Guid.NewGuid().ToString("D")).ToList();
        var lines = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            lines.Add(FeedbackEvents.Decision(decisions[i], start.AddSeconds(i).ToUnixTimeMilliseconds(), "gpt-4o", $"file query {i}"));
            lines.Add(FeedbackEvents.Grade(decisions[i], 0.7, "judge", feedbackId: grades[i]));
        }
        var path = Path.Combine(Host.DataDir, "mixed.jsonl");
        await File.WriteAllLinesAsync(path, lines);

        var report = await Host.Services.GetRequiredService<JsonlImporter>().ImportFileAsync(path);

        Assert.Equal(6, report.Stored);
        Assert.Equal(3, report.FeedbackStored);
        Assert.Equal(0, report.Rejected);
        Assert.Equal(3, await Host.CountDecisionsAsync(start.ToUnixTimeMilliseconds(), start.AddMinutes(1).ToUnixTimeMilliseconds()));
        await using var db = await Host.DbAsync();
        var stored = await db.Feedback.Where(f => grades.Contains(f.FeedbackId)).ToListAsync();
        Assert.Equal(3, stored.Count);
        Assert.All(stored, f => Assert.Equal("file", f.IngestSource));
        Assert.Equal(decisions.Order(), stored.Select(f => f.DecisionEventId!).Order());
    }

    [Fact]
    public async Task TheOpenTelemetrySdkExporterDeliversFeedbackSpanEvents()
    {
        var decision = Guid.NewGuid().ToString("D");
        var ids = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid().ToString("D")).ToArray();
        string? spanTraceId = null, spanSpanId = null;
        using var source = new ActivitySource("test-judge-" + Guid.NewGuid().ToString("N"));
        using (var provider = Sdk.CreateTracerProviderBuilder()
                   .AddSource(source.Name)
                   .AddOtlpExporter(o =>
                   {
                       o.Endpoint = new Uri(Host.BaseUri, "v1/traces");
                       o.Protocol = OtlpExportProtocol.HttpProtobuf;
                   })
                   .Build())
        {
            for (var i = 0; i < ids.Length; i++)
            {
                using var activity = source.StartActivity("judge.grade");
                Assert.NotNull(activity);
                // The last one has no key of its own: it grades the span it rides on.
                var payload = i < ids.Length - 1
                    ? FeedbackEvents.Grade(decision, 0.1 * i, "judge", feedbackId: ids[i])
                    : FeedbackEvents.Grade(null, 0.3, "user", feedbackId: ids[i]);
                if (i == ids.Length - 1)
                {
                    spanTraceId = activity.TraceId.ToHexString();
                    spanSpanId = activity.SpanId.ToHexString();
                }
                activity.AddEvent(new ActivityEvent(FeedbackParser.ContractName, tags: new ActivityTagsCollection
                {
                    [FeedbackParser.PayloadAttribute] = payload,
                }));
            }
            Assert.True(provider.ForceFlush(30_000));
        }

        await TestInfra.WaitUntilAsync(async () => await CountAsync(ids) == ids.Length, TimeSpan.FromSeconds(30), "5 grades from the OTLP exporter");
        await using var db = await Host.DbAsync();
        var last = ids[^1];
        var spanGrade = await db.Feedback.SingleAsync(f => f.FeedbackId == last);
        Assert.Equal("otlp", spanGrade.IngestSource);
        Assert.Null(spanGrade.DecisionEventId);
        Assert.Equal(spanTraceId, spanGrade.TraceId);
        Assert.Equal(spanSpanId, spanGrade.SpanId);
    }

    [Fact]
    public async Task TheCliSendsOneGradeAndRejectsAScoreOutOfRange()
    {
        var decision = Guid.NewGuid().ToString("D");
        var id = Guid.NewGuid().ToString("D");
        var server = Host.BaseUri.ToString();

        Assert.Equal(ExitCodes.Ok, await RouteIQCli.Main(["feedback", decision, "0.75", "--source", "user", "--id", id, "--server", server, "--json"]));
        Assert.Equal(ExitCodes.Usage, await RouteIQCli.Main(["feedback", decision, "1.25", "--server", server]));
        Assert.Equal(ExitCodes.Usage, await RouteIQCli.Main(["feedback", decision, "0.5", "--source", "robot", "--server", server]));

        await using var db = await Host.DbAsync();
        var grade = await db.Feedback.SingleAsync(f => f.FeedbackId == id);
        Assert.Equal(decision, grade.DecisionEventId);
        Assert.Equal(0.75, grade.Score);
        Assert.Equal("user", grade.Source);
        Assert.Null(grade.ModelName);
        // The same id again is a duplicate, not a second grade.
        Assert.Equal(ExitCodes.Ok, await RouteIQCli.Main(["feedback", decision, "0.75", "--id", id, "--server", server, "--json"]));
        Assert.Equal(1, await CountAsync(id));
    }

    [Fact]
    public async Task TheSummaryCountsOrphansUntilTheirDecisionArrives()
    {
        var day = new DateTimeOffset(2026, 4, 20, 0, 0, 0, TimeSpan.Zero);
        var random = new Random(3);
        var byEvent = Guid.NewGuid().ToString("D");
        var (traceId, spanId) = (FeedbackEvents.Hex(random, 32), FeedbackEvents.Hex(random, 16));
        var at = day.AddHours(1).ToUnixTimeMilliseconds();
        // Three grades before any decision: two by event id (judge, user), one by trace and span (task).
        await FeedbackEvents.PostNdjsonAsync(Host.Client, "v1/feedback",
        [
            FeedbackEvents.Grade(byEvent, 0.5, "judge", timestampMs: at),
            FeedbackEvents.Grade(byEvent, 0.8, "user", timestampMs: at),
            FeedbackEvents.Grade(null, 0.6, "task", traceId: traceId, spanId: spanId, timestampMs: at),
        ]);
        var url = $"admin/telemetry/summary?since={FeedbackEvents.Ms(day)}&until={FeedbackEvents.Ms(day.AddDays(1))}";

        var before = (await Host.Client.GetFromJsonAsync<JsonElement>(url)).GetProperty("feedback");
        Assert.Equal(3, before.GetProperty("total").GetInt64());
        Assert.Equal(3, before.GetProperty("orphans").GetInt64());
        Assert.Equal(0, before.GetProperty("graded_decisions").GetInt64());
        Assert.Equal(1, before.GetProperty("by_source").GetProperty("judge").GetInt64());
        Assert.Equal(1, before.GetProperty("by_source").GetProperty("task").GetInt64());

        await FeedbackEvents.PostNdjsonAsync(Host.Client, "admin/telemetry/events",
            [FeedbackEvents.Decision(byEvent, at - 1000, "gpt-4o", "orphan query")]);
        var middle = (await Host.Client.GetFromJsonAsync<JsonElement>(url)).GetProperty("feedback");
        Assert.Equal(1, middle.GetProperty("orphans").GetInt64());
        Assert.Equal(1, middle.GetProperty("graded_decisions").GetInt64());

        await FeedbackEvents.PostNdjsonAsync(Host.Client, "admin/telemetry/events",
            [FeedbackEvents.Decision(Guid.NewGuid().ToString("D"), at - 500, "gpt-4o-mini", "span query", traceId: traceId, spanId: spanId)]);
        var after = (await Host.Client.GetFromJsonAsync<JsonElement>(url)).GetProperty("feedback");
        Assert.Equal(0, after.GetProperty("orphans").GetInt64());
        Assert.Equal(2, after.GetProperty("graded_decisions").GetInt64());
    }
}
