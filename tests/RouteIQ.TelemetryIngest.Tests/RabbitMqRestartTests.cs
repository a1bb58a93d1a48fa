using Microsoft.Extensions.DependencyInjection;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Tests;

[Trait("Category", "Integration")]
public sealed class RabbitMqRestartTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task EveryEventOfA200kStreamIsStoredExactlyOnceAcrossABrokerRestart()
    {
        var rabbitUri = await TestInfra.CreateVirtualHostAsync("ti-restart");
        var endpoint = RabbitMqEndpoint.Parse(rabbitUri, "test");
        await using var host = await TelemetryHost.StartAsync("ti-restart", new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = rabbitUri,
            ["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("ti_restart"),
        });
        var consumer = host.Services.GetRequiredService<RabbitMqDecisionConsumer>();
        var metrics = host.Services.GetRequiredService<IngestMetrics>();
        await TestInfra.WaitUntilAsync(() => Task.FromResult(consumer.IsConnected), TimeSpan.FromSeconds(30), "the RabbitMQ input to connect");

        const int total = 200_000;
        var generator = new SyntheticTelemetry(seed: 21, start: new DateTimeOffset(2026, 4, 1, 0, 0, 0, TimeSpan.Zero));
        var publisher = new RawDecisionPublisher(endpoint);
        long confirmed = 0;
        var publishing = Task.Run(() => publisher.PublishAsync(total, i => generator.Event(i),
            new Progress<long>(c => Interlocked.Exchange(ref confirmed, c))));

        await TestInfra.WaitUntilAsync(async () => Interlocked.Read(ref confirmed) >= 60_000
                && await host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(total)) >= 20_000,
            TimeSpan.FromSeconds(120), "the stream to be well under way");
        await VirtualHostRestart.RestartAsync(endpoint.VirtualHost, outage: TimeSpan.FromSeconds(3));

        output.WriteLine($"restarted at {Interlocked.Read(ref confirmed)} confirmed");
        try
        {
            await publishing.WaitAsync(TimeSpan.FromSeconds(150));
        }
        finally
        {
            output.WriteLine($"confirmed {Interlocked.Read(ref confirmed)}, publisher retries {publisher.Retries}, consumer connected {consumer.IsConnected}, stored {await host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(total))}, duplicates {metrics.DuplicatesSinceStart}");
        }
        await TestInfra.WaitUntilAsync(async () => await host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(total)) >= total,
            TimeSpan.FromSeconds(150), "all 200,000 events stored");

        Assert.Equal(total, await host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(total)));
        Assert.True(publisher.Retries > 0, "the restart did not interrupt the publisher");
        await TestInfra.WaitUntilAsync(() => Task.FromResult(consumer.IsConnected), TimeSpan.FromSeconds(30), "the input to reconnect");
        Assert.Empty(await host.RejectedAsync());
    }
}

/// <summary>
/// A real restart of one virtual host, with an outage, that leaves every other vhost alone.
/// <c>rabbitmqctl stop_app</c> would restart the whole node under the other test projects that
/// run in parallel; instead: (1) the vhost refuses new connections (permissions cleared),
/// (2) the broker closes every connection of the vhost, as a stopping broker does, (3) the
/// vhost itself is stopped (its supervisor tree: message stores and queue processes), (4)
/// after the outage <c>rabbitmqctl restart_vhost</c> starts it again, recovering the durable
/// queue and its persistent messages from disk as a node restart does, and access is restored.
/// </summary>
[Trait("Category", "Integration")]
public static class VirtualHostRestart
{
    public static async Task RestartAsync(string vhost, TimeSpan outage)
    {
        var started = DateTime.UtcNow;
        var name = vhost.Replace("\"", "");
        await TestInfra.RunAsync("rabbitmqctl", "clear_permissions", "-p", vhost, "guest");
        try
        {
            await CloseConnectionsAsync(vhost);
            await TestInfra.RunAsync("rabbitmqctl", "eval",
                $"[R] = ets:lookup(rabbit_vhost_sup_sup, <<\"{name}\">>), supervisor2:terminate_child(rabbit_vhost_sup_sup, element(4, R)).");
            var left = outage - (DateTime.UtcNow - started);
            if (left > TimeSpan.Zero)
            {
                // Not a wait for something: the outage itself lasts this long (the clients must ride out a broker that stays away).
                await Task.Delay(left);
            }
            await TestInfra.RunAsync("rabbitmqctl", "restart_vhost", "-p", vhost);
        }
        finally
        {
            await TestInfra.RunAsync("rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
        }
    }

    private static async Task CloseConnectionsAsync(string vhost)
    {
        var list = await TestInfra.RunAsync("rabbitmqctl", "list_connections", "-q", "--no-table-headers", "vhost", "pid");
        foreach (var line in list.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split('\t');
            if (parts.Length == 2 && parts[0] == vhost)
            {
                try
                {
                    await TestInfra.RunAsync("rabbitmqctl", "close_connection", parts[1], "test: broker restart");
                }
                catch (InvalidOperationException)
                {
                    // Closed on its own meanwhile.
                }
            }
        }
    }
}
