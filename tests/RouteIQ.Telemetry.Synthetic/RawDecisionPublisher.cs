using RabbitMQ.Client;
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
    /// <summary>Failures in a row (200 ms apart) before giving up: about a minute of broker outage.</summary>
    public const int MaxConsecutiveFailures = 300;

    /// <summary>How long a window's confirms may take before the window is sent again on a new connection.</summary>
    public static readonly TimeSpan ConfirmTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Windows re-sent after a failure (each re-send may duplicate events).</summary>
    public int Retries { get; private set; }

    /// <summary>Publishes <paramref name="count"/> bodies made by <paramref name="body"/>; <paramref name="progress"/> gets the confirmed count.</summary>
    public async Task PublishAsync(long count, Func<long, ReadOnlyMemory<byte>> body, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        long confirmed = 0;
        var failures = 0;
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
                    // A connection closed under a window may leave its confirms pending: bound the wait.
                    await Task.WhenAll(pending.Select(p => p.AsTask())).WaitAsync(ConfirmTimeout, cancellationToken);
                    confirmed = end;
                    failures = 0;
                    progress?.Report(confirmed);
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ++failures <= MaxConsecutiveFailures)
            {
                // Connection closed, broker restarting, confirms lost: send the window again.
                _ = ex;
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
