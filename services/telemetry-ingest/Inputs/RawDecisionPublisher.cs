using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.TelemetryIngest.Inputs;

/// <summary>
/// A non-MassTransit producer, written with RabbitMQ.Client as a gateway in any language would
/// be: raw JSON bodies, persistent, to the <c>routeiq.router_decision.v1</c> fanout exchange, with
/// publisher confirms. Bodies are sent in windows; a window that is not fully confirmed
/// (connection lost, broker restarted) is sent again after reconnecting, so every event is
/// delivered at least once — the ingest side dedupes by <c>event_id</c>. Used by the
/// benchmark's <c>publish</c> mode, the tests and demos.
/// </summary>
public sealed class RawDecisionPublisher(RabbitMqEndpoint endpoint, string exchange = "routeiq.router_decision.v1", int window = 500)
{
    /// <summary>Windows re-sent after a failure (each re-send may duplicate events).</summary>
    public int Retries { get; private set; }

    /// <summary>Publishes <paramref name="count"/> bodies made by <paramref name="body"/>; <paramref name="progress"/> gets the confirmed count.</summary>
    public async Task PublishAsync(long count, Func<long, ReadOnlyMemory<byte>> body, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        long confirmed = 0;
        while (confirmed < count)
        {
            try
            {
                await using var connection = await CreateFactory().CreateConnectionAsync(cancellationToken);
                await using var channel = await connection.CreateChannelAsync(
                    new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), cancellationToken);
                await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: cancellationToken);
                var properties = new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent };
                var pending = new List<ValueTask>(window);
                while (confirmed < count)
                {
                    var end = Math.Min(count, confirmed + window);
                    pending.Clear();
                    for (var i = confirmed; i < end; i++)
                    {
                        pending.Add(channel.BasicPublishAsync(exchange, "", mandatory: false, properties, body(i), cancellationToken));
                    }
                    foreach (var task in pending)
                    {
                        await task;
                    }
                    confirmed = end;
                    progress?.Report(confirmed);
                }
            }
            catch (Exception ex) when (ex is AlreadyClosedException or OperationInterruptedException or BrokerUnreachableException
                or PublishException or IOException or System.Net.Sockets.SocketException
                || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                Retries++;
                await Task.Delay(200, cancellationToken);
            }
        }
    }

    private ConnectionFactory CreateFactory() => new()
    {
        HostName = endpoint.Host,
        Port = endpoint.Port,
        VirtualHost = endpoint.VirtualHost,
        UserName = endpoint.Username,
        Password = endpoint.Password,
        AutomaticRecoveryEnabled = false,
        ClientProvidedName = "routeiq-raw-publisher",
        Ssl = endpoint.UseTls ? new SslOption { Enabled = true, ServerName = endpoint.Host } : new SslOption(),
    };
}
