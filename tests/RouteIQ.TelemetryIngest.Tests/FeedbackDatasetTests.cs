using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.TelemetryIngest.Datasets;
using RouteIQ.TelemetryIngest.Parsing;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>
/// A dataset's labels come from grades by the spec's join and aggregation rules (precedence or
/// mean, shadow grades as their own observations, graded_only, propensities), and the same
/// decisions and grades give the same bytes whatever order and how often they arrived.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DatasetsLearnFromGradesTests(FeedbackInputsFixture fixture) : IClassFixture<FeedbackInputsFixture>
{
    private TelemetryHost Host => fixture.Host;

    /// <summary>A day of its own per test (datasets are built over a window; grades join whatever their date).</summary>
    private sealed record World(DateTimeOffset Day, string A, string B, string C, string D);

    /// <summary>
    /// Four decisions: A (gpt-4o, p=0.25) graded by judge 0.4 and 0.6 and by user 0.9, plus a shadow
    /// judge grade of claude 0.7; B (gpt-4o-mini, no propensity) ungraded; C (gemini, p=0.5) graded by
    /// a heuristic 0.2 only; D joined by trace and span (judge 0.3), its grade sent before it.
    /// </summary>
    private async Task<World> SeedAsync(int dayOffset)
    {
        var day = new DateTimeOffset(2026, 6, 1, 0, 0, 0, TimeSpan.Zero).AddDays(dayOffset);
        var random = new Random(dayOffset);
        var (a, b, c, d) = (Guid.NewGuid().ToString("D"), Guid.NewGuid().ToString("D"), Guid.NewGuid().ToString("D"), Guid.NewGuid().ToString("D"));
        var (traceId, spanId) = (FeedbackEvents.Hex(random, 32), FeedbackEvents.Hex(random, 16));
        var at = day.AddHours(1).ToUnixTimeMilliseconds();
        await FeedbackEvents.PostNdjsonAsync(Host.Client, "v1/feedback", [FeedbackEvents.Grade(null, 0.3, "judge", traceId: traceId, spanId: spanId)]);
        await FeedbackEvents.PostNdjsonAsync(Host.Client, "admin/telemetry/events",
        [
            FeedbackEvents.Decision(a, at, "gpt-4o", $"query A {dayOffset}", selectionProbability: 0.25),
            FeedbackEvents.Decision(b, at + 1, "gpt-4o-mini", $"query B {dayOffset}"),
            FeedbackEvents.Decision(c, at + 2, "gemini-1.5-flash", $"query C {dayOffset}", selectionProbability: 0.5),
            FeedbackEvents.Decision(d, at + 3, "mistral-large", $"query D {dayOffset}", selectionProbability: 0.8, traceId: traceId, spanId: spanId),
        ]);
        await FeedbackEvents.PostNdjsonAsync(Host.Client, "v1/feedback",
        [
            FeedbackEvents.Grade(a, 0.4, "judge"),
            FeedbackEvents.Grade(a, 0.6, "judge", model: "gpt-4o"),
            FeedbackEvents.Grade(a, 0.9, "user"),
            FeedbackEvents.Grade(a, 0.7, "judge", model: "claude-3-5-sonnet"),
            FeedbackEvents.Grade(c, 0.2, "heuristic"),
        ]);
        return new World(day, a, b, c, d);
    }

    private static object Request(string id, World world, object? feedback = null, bool gradedOnly = false) => new
    {
        dataset_id = id,
        since = world.Day,
        until = world.Day.AddDays(1),
        test_split = 0.0,
        graded_only = gradedOnly,
        labels = feedback is null ? null : new { feedback },
    };

    private static JsonElement Line(List<JsonElement> lines, string query, string model)
        => lines.Single(l => l.GetProperty("query").GetString() == query && l.GetProperty("model_name").GetString() == model);

    [Fact]
    public async Task TheHighestPrecedenceSourceLabelsAndAShadowGradeIsItsOwnObservation()
    {
        var world = await SeedAsync(1);

        var info = await FeedbackEvents.BuildAsync(Host, Request("fb-precedence", world));
        var lines = await FeedbackEvents.LinesAsync(Host, "fb-precedence");

        Assert.Equal(5, lines.Count);
        var a = Line(lines, "query A 1", "gpt-4o");
        Assert.Equal(0.9, a.GetProperty("performance").GetDouble());
        Assert.Equal("feedback:user", a.GetProperty("label_source").GetString());
        Assert.Equal(0.25, a.GetProperty("propensity").GetDouble());
        var shadow = Line(lines, "query A 1", "claude-3-5-sonnet");
        Assert.Equal(0.7, shadow.GetProperty("performance").GetDouble());
        Assert.Equal("feedback:judge", shadow.GetProperty("label_source").GetString());
        Assert.Equal(1.0, shadow.GetProperty("propensity").GetDouble());
        Assert.Equal(a.GetProperty("embedding_id").GetInt32(), shadow.GetProperty("embedding_id").GetInt32());
        var b = Line(lines, "query B 1", "gpt-4o-mini");
        Assert.Equal("formula", b.GetProperty("label_source").GetString());
        Assert.Equal(1.0, b.GetProperty("propensity").GetDouble());
        Assert.Equal("feedback:heuristic", Line(lines, "query C 1", "gemini-1.5-flash").GetProperty("label_source").GetString());
        var d = Line(lines, "query D 1", "mistral-large");
        Assert.Equal(0.3, d.GetProperty("performance").GetDouble());
        Assert.Equal(0.8, d.GetProperty("propensity").GetDouble());

        var feedback = info.GetProperty("metadata").GetProperty("feedback");
        Assert.Equal(3, feedback.GetProperty("graded_decisions").GetInt64());
        Assert.Equal(4, feedback.GetProperty("graded_observations").GetInt64());
        Assert.Equal(1, feedback.GetProperty("ungraded_observations").GetInt64());
        Assert.Equal(1, feedback.GetProperty("shadow_observations").GetInt64());
        Assert.Equal(5, feedback.GetProperty("grades_joined_by_decision_event_id").GetInt64());
        Assert.Equal(1, feedback.GetProperty("grades_joined_by_trace_span").GetInt64());
        // user 0.9 for A, judge 0.7 for the shadow, heuristic for C, judge for D: the two judge grades of A's own model lost to the user's.
        Assert.Equal(4, feedback.GetProperty("grades_used").GetInt64());
        Assert.Equal(1, feedback.GetProperty("observations_by_label_source").GetProperty("formula").GetInt64());
        Assert.Equal(1, info.GetProperty("metadata").GetProperty("propensity").GetProperty("unknown").GetInt64());
    }

    [Fact]
    public async Task MeanAndACustomPrecedenceAreChosenPerBuild()
    {
        var world = await SeedAsync(2);

        await FeedbackEvents.BuildAsync(Host, Request("fb-mean", world, "mean"));
        await FeedbackEvents.BuildAsync(Host, Request("fb-judge-first", world, new { precedence = new[] { "judge", "user" } }));

        var mean = await FeedbackEvents.LinesAsync(Host, "fb-mean");
        var a = Line(mean, "query A 2", "gpt-4o");
        Assert.Equal(Math.Round((0.4 + 0.6 + 0.9) / 3, 6), a.GetProperty("performance").GetDouble());
        Assert.Equal("feedback:mean", a.GetProperty("label_source").GetString());
        var judgeFirst = await FeedbackEvents.LinesAsync(Host, "fb-judge-first");
        Assert.Equal(0.5, Line(judgeFirst, "query A 2", "gpt-4o").GetProperty("performance").GetDouble());
        // heuristic is not in that precedence: C's only grade does not count, the formula labels it.
        Assert.Equal("formula", Line(judgeFirst, "query C 2", "gemini-1.5-flash").GetProperty("label_source").GetString());
    }

    [Fact]
    public async Task GradedOnlyLeavesOutWhatNoGradeLabels()
    {
        var world = await SeedAsync(3);

        var info = await FeedbackEvents.BuildAsync(Host, Request("fb-graded-only", world, gradedOnly: true));
        var lines = await FeedbackEvents.LinesAsync(Host, "fb-graded-only");

        Assert.Equal(4, lines.Count);
        Assert.All(lines, l => Assert.StartsWith("feedback:", l.GetProperty("label_source").GetString()));
        Assert.DoesNotContain(lines, l => l.GetProperty("query").GetString() == "query B 3");
        Assert.Equal(1, info.GetProperty("metadata").GetProperty("feedback").GetProperty("skipped_ungraded").GetInt64());
        // Embedding ids still number the written queries (A, C, D) without gaps.
        Assert.Equal(2, lines.Select(l => l.GetProperty("embedding_id").GetInt32()).Max());
    }

    [Fact]
    public async Task ABadAggregationIsA400NamingTheField()
    {
        using var unknownSource = await Host.Client.PostAsync("admin/datasets", JsonContent(new { labels = new { feedback = new { precedence = new[] { "judge", "crowd" } } } }));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, unknownSource.StatusCode);
        Assert.Contains("labels.feedback.precedence", await unknownSource.Content.ReadAsStringAsync());
        using var notMean = await Host.Client.PostAsync("admin/datasets", JsonContent(new { labels = new { feedback = "median" } }));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, notMean.StatusCode);
        Assert.Contains("labels.feedback", await notMean.Content.ReadAsStringAsync());
    }

    private static StringContent JsonContent(object value) => new(JsonSerializer.Serialize(value), System.Text.Encoding.UTF8, "application/json");

    [Fact]
    public async Task ShuffledArrivalAndDuplicatesGiveTheSameDatasetBytes()
    {
        // 60 decisions over 20 queries and 4 models; 40 % graded by one to three grades of mixed
        // sources (some of another model, some by trace and span); every event in a random order,
        // a fifth of them sent twice, into two fresh stores.
        var random = new Random(2026);
        var start = new DateTimeOffset(2026, 7, 1, 0, 0, 0, TimeSpan.Zero);
        string[] models = ["gpt-4o", "gpt-4o-mini", "claude-3-haiku", "mistral-large"];
        var decisions = new List<string>();
        var grades = new List<string>();
        for (var i = 0; i < 60; i++)
        {
            var id = Guid.NewGuid().ToString("D");
            var (traceId, spanId) = (FeedbackEvents.Hex(random, 32), FeedbackEvents.Hex(random, 16));
            var model = models[random.Next(models.Length)];
            decisions.Add(FeedbackEvents.Decision(id, start.AddSeconds(i / 3).ToUnixTimeMilliseconds(), model, $"query {random.Next(20)}",
                selectionProbability: random.NextDouble() < 0.5 ? null : Math.Round(0.1 + random.NextDouble() * 0.9, 3), traceId: traceId, spanId: spanId));
            if (random.NextDouble() < 0.4)
            {
                for (var g = random.Next(1, 4); g > 0; g--)
                {
                    var bySpan = random.NextDouble() < 0.3;
                    grades.Add(FeedbackEvents.Grade(bySpan ? null : id, Math.Round(random.NextDouble(), 3),
                        FeedbackSources.DefaultPrecedence[random.Next(5)], model: random.NextDouble() < 0.25 ? models[random.Next(models.Length)] : null,
                        traceId: bySpan ? traceId : null, spanId: bySpan ? spanId : null));
                }
            }
        }

        async Task<List<byte[]>> BuildInFreshStoreAsync(int seed)
        {
            var order = new Random(seed);
            var events = decisions.Concat(grades).ToList();
            events.AddRange(events.Where(_ => order.NextDouble() < 0.2).ToList());
            order.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(events));
            await using var host = await TelemetryHost.StartAsync("ti-fb-shuffle", new Dictionary<string, string?> { ["RouteIQ:Telemetry:StoreQueryText"] = "true" });
            // Grades through /v1/feedback, decisions through the events route, in chunks of the shuffled order.
            foreach (var chunk in events.Chunk(17))
            {
                var feedback = chunk.Where(e => e.Contains("router_feedback", StringComparison.Ordinal)).ToList();
                var rest = chunk.Where(e => !e.Contains("router_feedback", StringComparison.Ordinal)).ToList();
                if (feedback.Count > 0 && order.NextDouble() < 0.5)
                {
                    await FeedbackEvents.PostNdjsonAsync(host.Client, "v1/feedback", feedback);
                    feedback.Clear();
                }
                if (feedback.Count + rest.Count > 0)
                {
                    await FeedbackEvents.PostNdjsonAsync(host.Client, "admin/telemetry/events", feedback.Concat(rest));
                }
            }
            await FeedbackEvents.BuildAsync(host, new { dataset_id = "fb-same", since = start, until = start.AddDays(1), test_split = 0.3, seed = 5, include_routing_metadata = true });
            var files = new List<byte[]>();
            foreach (var file in new[] { DatasetBuilder.TrainFile, DatasetBuilder.TestFile, DatasetBuilder.LlmDataFile })
            {
                files.Add(await FeedbackEvents.ReadAsync(host, $"datasets/fb-same/{file}"));
            }
            return files;
        }

        var first = await BuildInFreshStoreAsync(1);
        var second = await BuildInFreshStoreAsync(2);

        Assert.Equal(first[0], second[0]);
        Assert.Equal(first[1], second[1]);
        Assert.Equal(first[2], second[2]);
        var text = System.Text.Encoding.UTF8.GetString(first[0]) + System.Text.Encoding.UTF8.GetString(first[1]);
        Assert.Contains("\"label_source\":\"feedback:", text);
        Assert.Contains("\"label_source\":\"formula\"", text);
    }
}
