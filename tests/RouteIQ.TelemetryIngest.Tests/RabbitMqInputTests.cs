using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>One PostgreSQL database, one vhost and one telemetry-ingest for the class; each test uses its own time window.</summary>
[Trait("Category", "Integration")]
public sealed class RabbitMqInputFixture : IAsyncLifetime
{
    public TelemetryHost Host { get; private set; } = null!;
    public string RabbitUri { get; private set; } = "";

    public async Task InitializeAsync()
    {
        RabbitUri = await TestInfra.CreateVirtualHostAsync("ti-rmq");
        var database = await TestInfra.CreateDatabaseAsync("ti_rmq");
        Host = await TelemetryHost.StartAsync("ti-rmq", new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = RabbitUri,
            ["ConnectionStrings:RouteIQ"] = database,
            ["RouteIQ:Telemetry:BatchSize"] = "500",
        });
        var consumer = Host.Services.GetRequiredService<RabbitMqDecisionConsumer>();
        await TestInfra.WaitUntilAsync(() => Task.FromResult(consumer.IsConnected), TimeSpan.FromSeconds(30), "the RabbitMQ input to connect");
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

[Trait("Category", "Integration")]
public sealed class RabbitMqInputTests(RabbitMqInputFixture fixture) : IClassFixture<RabbitMqInputFixture>
{
    private static readonly DateTimeOffset Day = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task RawJsonFromARabbitMqClientProducerIsStored()
    {
        var generator = new SyntheticTelemetry(seed: 11, start: Day);
        var endpoint = RabbitMqEndpoint.Parse(fixture.RabbitUri, "test");
        var factory = new ConnectionFactory
        {
            HostName = endpoint.Host, Port = endpoint.Port, VirtualHost = endpoint.VirtualHost,
            UserName = endpoint.Username, Password = endpoint.Password,
        };

        // A gateway that is not MassTransit: plain AMQP, raw JSON body, its own routing key.
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            var properties = new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent };
            for (var i = 0; i < 25; i++)
            {
                await channel.BasicPublishAsync("routeiq.router_decision.v1", "gateway.eu-1", false, properties, generator.Event(i));
            }
        }

        await TestInfra.WaitUntilAsync(async () => await fixture.Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(25)) == 25,
            TimeSpan.FromSeconds(60), "25 decisions stored");
        await using var db = await fixture.Host.DbAsync();
        var stored = await db.Decisions.SingleAsync(d => d.EventId == generator.EventId(3));
        Assert.Equal("bus", stored.Source);
        Assert.NotNull(stored.SelectedDeployment);
        Assert.Null(stored.QueryText);
        Assert.Contains("candidate_deployments", stored.AttributesJson);
    }

    [Fact]
    public async Task BadBodiesAreRejectedWithTheirReasonAndLaterEventsAreStillStored()
    {
        var generator = new SyntheticTelemetry(seed: 12, start: Day.AddDays(1));
        var marker = Guid.NewGuid().ToString("N");
        string[] bad =
        [
            "{\"contract_name\":\"routeiq.router_decision.v1\",\"m\":\"" + marker + "\"",
            "{\"contract_name\":\"routeiq.router_decision.v1\",\"m\":\"" + marker + "\",\"input\":{\"query_length\":\"long\"}}",
            "{\"contract_name\":\"routeiq.router_decision.v1\",\"m\":\"" + marker + "\",\"outcome\":{\"status\":\"exploded\"}}",
            "{\"contract_name\":\"routeiq.router_decision.v1\",\"m\":\"" + marker + "\",\"contract_version\":\"v9\"}",
            "{\"contract_name\":\"routeiq.router_decision.v1\",\"m\":\"" + marker + "\",\"pad\":\"" + new string('x', 1024 * 1024) + "\"}",
        ];
        var publisher = new RawDecisionPublisher(RabbitMqEndpoint.Parse(fixture.RabbitUri, "test"));

        await publisher.PublishAsync(bad.Length, i => Encoding.UTF8.GetBytes(bad[i]));
        await publisher.PublishAsync(10, i => generator.Event(i));

        await TestInfra.WaitUntilAsync(async () => await fixture.Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(10)) == 10,
            TimeSpan.FromSeconds(60), "the good events after the bad ones");
        var rejected = (await fixture.Host.RejectedAsync()).Where(r => r.RawBody.Contains(marker)).ToList();
        Assert.Equal(5, rejected.Count);
        Assert.All(rejected, r => Assert.Equal("bus", r.Source));
        Assert.Contains(rejected, r => r.Reason.StartsWith("malformed JSON", StringComparison.Ordinal));
        Assert.Contains(rejected, r => r.Reason.StartsWith("input.query_length: expected an integer", StringComparison.Ordinal));
        Assert.Contains(rejected, r => r.Reason.StartsWith("outcome.status: unknown value 'exploded'", StringComparison.Ordinal));
        Assert.Contains(rejected, r => r.Reason.StartsWith("contract_version: unsupported version 'v9'", StringComparison.Ordinal));
        Assert.Contains(rejected, r => r.Reason.Contains("over the 1 MiB limit", StringComparison.Ordinal));
        Assert.True(fixture.Host.Services.GetRequiredService<RabbitMqDecisionConsumer>().IsConnected);
    }

    [Fact]
    public async Task TenThousandEventsWithTenPercentDuplicatesStoreExactlyTheUniqueOnes()
    {
        var generator = new SyntheticTelemetry(seed: 13, start: Day.AddDays(2));
        var random = new Random(5);
        // 9,000 distinct events and 1,000 re-sends of some of them, shuffled: 10,000 messages.
        var indexes = Enumerable.Range(0, 9000).Concat(Enumerable.Range(0, 1000).Select(_ => random.Next(9000))).ToArray();
        random.Shuffle(indexes);
        var metrics = fixture.Host.Services.GetRequiredService<IngestMetrics>();
        var duplicatesBefore = metrics.DuplicatesSinceStart;
        var publisher = new RawDecisionPublisher(RabbitMqEndpoint.Parse(fixture.RabbitUri, "test"));

        await publisher.PublishAsync(indexes.Length, i => generator.Event(indexes[i]));

        await TestInfra.WaitUntilAsync(() => Task.FromResult(metrics.DuplicatesSinceStart - duplicatesBefore >= 1000),
            TimeSpan.FromSeconds(120), "all 10,000 messages processed");
        Assert.Equal(9000, await fixture.Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(9000)));
        Assert.Equal(1000, metrics.DuplicatesSinceStart - duplicatesBefore);
    }
}
