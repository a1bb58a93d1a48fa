using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Store;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>
/// Grades published as raw JSON to the <c>routeiq.router_feedback.v1</c> exchange (any producer)
/// are stored in PostgreSQL once each, duplicates counted and dropped, bad ones rejected with their
/// reason beside good ones — on the same channel as the decisions.
/// </summary>
[Trait("Category", "Integration")]
public sealed class FeedbackOverRabbitMqIsStoredOnceTests : IAsyncLifetime
{
    private TelemetryHost _host = null!;
    private string _rabbitUri = "";

    public async Task InitializeAsync()
    {
        _rabbitUri = await TestInfra.CreateVirtualHostAsync("ti-fb-rmq");
        _host = await TelemetryHost.StartAsync("ti-fb-rmq", new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = _rabbitUri,
            ["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("ti_fb_rmq"),
            ["RouteIQ:Telemetry:BatchSize"] = "200",
        });
        var consumer = _host.Services.GetRequiredService<RabbitMqDecisionConsumer>();
        await TestInfra.WaitUntilAsync(() => Task.FromResult(consumer.IsConnected), TimeSpan.FromSeconds(30), "the RabbitMQ input to connect");
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task GradesAndDecisionsOnTheirOwnExchangesAreStoredOnceAndBadGradesRejected()
    {
        var start = new DateTimeOffset(2026, 8, 1, 0, 0, 0, TimeSpan.Zero);
        var generator = new SyntheticTelemetry(seed: 71, start: start);
        var random = new Random(9);
        // 1,000 grades of 500 decisions (two each), 150 of them re-sent, shuffled; 3 bad ones among them.
        var grades = Enumerable.Range(0, 1000).Select(i => generator.Feedback(i / 2, i % 2)).ToList();
        var sends = grades.Concat(Enumerable.Range(0, 150).Select(_ => grades[random.Next(grades.Count)])).ToList();
        var marker = Guid.NewGuid().ToString("N");
        sends.Add(Encoding.UTF8.GetBytes(FeedbackEvents.Grade(generator.EventId(1), 2.0, "judge").Replace("r-1", marker, StringComparison.Ordinal)));
        sends.Add(Encoding.UTF8.GetBytes(FeedbackEvents.Grade(generator.EventId(1), 0.5, "crowd").Replace("r-1", marker, StringComparison.Ordinal)));
        sends.Add(Encoding.UTF8.GetBytes("{\"contract_name\":\"routeiq.router_feedback.v1\",\"m\":\"" + marker + "\""));
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(sends));
        var metrics = _host.Services.GetRequiredService<IngestMetrics>();
        var endpoint = RabbitMqEndpoint.Parse(_rabbitUri, "test");

        await new RawDecisionPublisher(endpoint, exchange: "routeiq.router_feedback.v1").PublishAsync(sends.Count, i => sends[(int)i]);
        await new RawDecisionPublisher(endpoint).PublishAsync(500, i => generator.Event(i));

        await TestInfra.WaitUntilAsync(async () =>
        {
            await using var db = await _host.DbAsync();
            // The decisions were published last and travel on their own exchange: wait for them too.
            return await db.Feedback.CountAsync() == 1000 && metrics.FeedbackDuplicatesSinceStart >= 150
                && await db.RejectedEvents.CountAsync(r => r.RawBody.Contains(marker)) == 3
                && await _host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(500)) >= 500;
        }, TimeSpan.FromSeconds(90), "1,000 grades, 150 duplicates, 3 rejections and 500 decisions");
        Assert.Equal(500, await _host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(500)));
        Assert.Equal(150, metrics.FeedbackDuplicatesSinceStart);
        await using var check = await _host.DbAsync();
        var rejected = await check.RejectedEvents.Where(r => r.RawBody.Contains(marker)).Select(r => r.Reason).ToListAsync();
        Assert.Contains(rejected, r => r.StartsWith("score: must be in [0, 1] (got 2)", StringComparison.Ordinal));
        Assert.Contains(rejected, r => r.StartsWith("source: unknown value 'crowd'", StringComparison.Ordinal));
        Assert.Contains(rejected, r => r.StartsWith("malformed JSON", StringComparison.Ordinal));
        var seventh = await check.Feedback.Where(f => f.DecisionEventId == generator.EventId(7)).ToListAsync();
        Assert.Equal(2, seventh.Count);
        Assert.All(seventh, f =>
        {
            Assert.Equal("bus", f.IngestSource);
            Assert.Equal(generator.TimestampMs(7) + 60_000, f.TimestampMs);
            Assert.Equal(f.JudgeModel is null ? "user" : "judge", f.Source);
        });
    }
}
