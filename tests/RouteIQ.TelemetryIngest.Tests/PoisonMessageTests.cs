using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>A broker vhost, a PostgreSQL database and one telemetry-ingest consuming raw JSON for the class.</summary>
public sealed class PoisonMessageFixture : IAsyncLifetime
{
    public TelemetryHost Host { get; private set; } = null!;
    public RawDecisionPublisher Publisher { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var rabbit = await TestInfra.CreateVirtualHostAsync("ti-poison");
        Host = await TelemetryHost.StartAsync("ti-poison", new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = rabbit,
            ["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("ti_poison"),
            ["RouteIQ:Telemetry:BatchSize"] = "200",
        });
        var consumer = Host.Services.GetRequiredService<RabbitMqDecisionConsumer>();
        await TestInfra.WaitUntilAsync(() => Task.FromResult(consumer.IsConnected), TimeSpan.FromSeconds(30), "the RabbitMQ input to connect");
        Publisher = new RawDecisionPublisher(RabbitMqEndpoint.Parse(rabbit, "test"));
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>
/// Issue 15 §3 on a real broker: a delivery the parser cannot read used to throw out of the delivery
/// handler, never join a batch, and be acked by the next batch's multiple-ack — silently lost.
/// </summary>
[Trait("Category", "Integration")]
public sealed class PoisonMessageTests(PoisonMessageFixture fixture) : IClassFixture<PoisonMessageFixture>
{
    private TelemetryHost Host => fixture.Host;

    [Fact]
    public async Task APoisonMessageBetweenGoodOnesIsRejectedAndTheGoodOnesAreStored()
    {
        var generator = new SyntheticTelemetry(seed: 1510, start: DateTimeOffset.UtcNow.AddDays(-3));
        var marker = Guid.NewGuid().ToString("N");
        byte[] poison = [.. Encoding.UTF8.GetBytes("{\"contract_name\":\"routeiq.router_decision.v1\",\"m\":\"" + marker + "\",\"selected_deployment\":\"gpt-"), 0xFF, 0xFE, .. "\"}"u8];
        var bodies = new[] { generator.Event(0), generator.Event(1), poison, generator.Event(2), generator.Event(3) };

        await fixture.Publisher.PublishAsync(bodies.Length, i => bodies[i]);

        await TestInfra.WaitUntilAsync(async () => (await Host.RejectedAsync()).Any(r => r.RawBody.StartsWith(RawBody.Base64Prefix)
                && Encoding.Latin1.GetString(Convert.FromBase64String(r.RawBody[RawBody.Base64Prefix.Length..])).Contains(marker)),
            TimeSpan.FromSeconds(60), "the poison message's rejected row");
        await TestInfra.WaitUntilAsync(async () => await Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(4)) == 4,
            TimeSpan.FromSeconds(60), "the four good events");
        var row = (await Host.RejectedAsync()).Single(r => r.RawBody.StartsWith(RawBody.Base64Prefix)
            && Encoding.Latin1.GetString(Convert.FromBase64String(r.RawBody[RawBody.Base64Prefix.Length..])).Contains(marker));
        Assert.Equal("bus", row.Source);
        Assert.StartsWith("malformed JSON", row.Reason);
        Assert.Equal(poison, Convert.FromBase64String(row.RawBody[RawBody.Base64Prefix.Length..]));
    }

    [Fact]
    public async Task ThousandsOfMutatedDeliveriesAreEachStoredOrRejected()
    {
        var hostile = new HostileBytes(1511);
        var generator = new SyntheticTelemetry(seed: 1511, start: DateTimeOffset.UtcNow.AddDays(-4));
        const int sent = 3000;
        var bodies = Enumerable.Range(0, sent).Select(i => i % 10 == 9 ? hostile.Garbage(generator.Event(i)) : hostile.Mutate(generator.Event(i))).ToArray();
        var metrics = Host.Services.GetRequiredService<IngestMetrics>();
        var (decisions, rejected) = await CountsAsync();
        var duplicates = metrics.DuplicatesSinceStart;

        await fixture.Publisher.PublishAsync(sent, i => bodies[i]);

        long accounted = 0;
        await TestInfra.WaitUntilAsync(async () =>
        {
            var (d, r) = await CountsAsync();
            accounted = d - decisions + r - rejected + metrics.DuplicatesSinceStart - duplicates;
            return accounted >= sent;
        }, TimeSpan.FromSeconds(120), $"{sent} deliveries stored or rejected");
        Assert.Equal(sent, accounted);
        Assert.True(Host.Services.GetRequiredService<RabbitMqDecisionConsumer>().IsConnected);
        using var live = await Host.Client.GetAsync("health/live");
        Assert.True(live.IsSuccessStatusCode);
    }

    private async Task<(long Decisions, long Rejected)> CountsAsync()
    {
        await using var db = await Host.DbAsync();
        return (await db.Decisions.LongCountAsync(), await db.RejectedEvents.LongCountAsync());
    }
}
