using System.Threading.Channels;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest.Parsing;

namespace RouteIQ.TelemetryIngest.Inputs;

/// <summary>
/// Raw <c>routeiq.router_decision.v1</c> JSON bodies from non-MassTransit producers. Declares a
/// durable <b>fanout</b> exchange (so producers may use any routing key) and the durable queue
/// <c>telemetry-ingest.router-decisions</c> bound to it. Deliveries are parsed as they arrive,
/// written in batches, and acknowledged (<c>multiple=true</c>) only after their batch
/// commits: a crash or a broker restart redelivers, and redelivered events dedupe by
/// <c>event_id</c>.
/// </summary>
/// <remarks>
/// Reconnection is our own loop rather than the client's automatic recovery: delivery tags
/// belong to one channel, and acking a batch collected on a channel that has since been
/// recovered would ack the wrong deliveries (or close the new channel). Each session has its
/// own buffer; when the connection drops, the unacknowledged remainder is simply dropped
/// and comes back by redelivery.
/// </remarks>
public sealed class RabbitMqDecisionConsumer(
    RabbitMqEndpoint endpoint,
    IOptions<TelemetryIngestOptions> options,
    IngestService ingest,
    ILogger<RabbitMqDecisionConsumer> logger) : BackgroundService, IHealthCheck
{
    private readonly TelemetryIngestOptions _options = options.Value;
    private volatile bool _connected;
    private volatile string? _lastError;

    /// <summary>Set while a session is consuming.</summary>
    public bool IsConnected => _connected;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunSessionAsync(stoppingToken);
                delay = TimeSpan.FromMilliseconds(250);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                _lastError = ex.Message;
                logger.LogWarning("RabbitMQ input: {Error}; reconnecting in {Delay} ms", ex.Message, (int)delay.TotalMilliseconds);
            }
            finally
            {
                _connected = false;
            }
            try
            {
                await Task.Delay(delay, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
        }
    }

    private async Task RunSessionAsync(CancellationToken stoppingToken)
    {
        var factory = new ConnectionFactory
        {
            HostName = endpoint.Host,
            Port = endpoint.Port,
            VirtualHost = endpoint.VirtualHost,
            UserName = endpoint.Username,
            Password = endpoint.Password,
            AutomaticRecoveryEnabled = false,
            TopologyRecoveryEnabled = false,
            ClientProvidedName = "telemetry-ingest.router-decisions",
            RequestedHeartbeat = TimeSpan.FromSeconds(10),
        };
        if (endpoint.UseTls)
        {
            factory.Ssl = new SslOption { Enabled = true, ServerName = endpoint.Host };
        }

        using var session = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        await using var connection = await factory.CreateConnectionAsync(stoppingToken);
        connection.ConnectionShutdownAsync += (_, args) =>
        {
            _lastError = args.ReplyText;
            session.Cancel();
            return Task.CompletedTask;
        };
        await using var channel = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
        channel.ChannelShutdownAsync += (_, _) =>
        {
            session.Cancel();
            return Task.CompletedTask;
        };
        await channel.ExchangeDeclareAsync(_options.Exchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: stoppingToken);
        await channel.QueueDeclareAsync(_options.Queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: stoppingToken);
        await channel.QueueBindAsync(_options.Queue, _options.Exchange, routingKey: "", cancellationToken: stoppingToken);
        await channel.ExchangeDeclareAsync(_options.FeedbackExchange, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: stoppingToken);
        await channel.QueueDeclareAsync(_options.FeedbackQueue, durable: true, exclusive: false, autoDelete: false, cancellationToken: stoppingToken);
        await channel.QueueBindAsync(_options.FeedbackQueue, _options.FeedbackExchange, routingKey: "", cancellationToken: stoppingToken);
        await channel.BasicQosAsync(0, (ushort)_options.EffectivePrefetch, global: false, stoppingToken);

        // Both queues on one channel, into one batch loop: delivery tags are per channel and the client
        // dispatches a channel's deliveries one at a time in order, so a multiple-ack up to a batch's last
        // tag still covers exactly the deliveries of that batch and the ones before it, from either queue.
        var deliveries = Channel.CreateUnbounded<Delivery>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
        var decisions = new DeliveryConsumer(channel, ingest.Parser.Parse, deliveries.Writer, session);
        var grades = new DeliveryConsumer(channel, ingest.FeedbackParser.Parse, deliveries.Writer, session);
        await channel.BasicConsumeAsync(_options.Queue, autoAck: false, decisions, stoppingToken);
        await channel.BasicConsumeAsync(_options.FeedbackQueue, autoAck: false, grades, stoppingToken);
        _connected = true;
        _lastError = null;
        logger.LogInformation("RabbitMQ input consuming {Queue} (fanout exchange {Exchange}) and {FeedbackQueue} (fanout exchange {FeedbackExchange}) on {Endpoint}, prefetch {Prefetch}, batch {BatchSize}",
            _options.Queue, _options.Exchange, _options.FeedbackQueue, _options.FeedbackExchange, endpoint, _options.EffectivePrefetch, _options.BatchSize);

        try
        {
            await FlushLoopAsync(deliveries.Reader, channel, session.Token);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            throw new IOException($"session ended ({_lastError ?? "consumer cancelled by the broker"})");
        }
    }

    /// <summary>
    /// The shortest wait of a batch that has caught up with the broker for more deliveries.</summary>
    private static readonly TimeSpan GatherInterval = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Gathers batches and writes them one at a time: while one batch commits the next one fills.
    /// Acks stay in delivery order — a batch is acknowledged (multiple=true, up to its last tag)
    /// only after it and every batch before it have committed.
    /// </summary>
    private async Task FlushLoopAsync(ChannelReader<Delivery> reader, IChannel channel, CancellationToken token)
    {
        IngestBatch[] batches = [new(IngestSources.Bus), new(IngestSources.Bus)];
        var current = 0;
        Task? inflight = null;
        IngestBatch? inflightBatch = null;
        ulong inflightTag = 0;
        var flushInterval = TimeSpan.FromMilliseconds(_options.FlushIntervalMs);

        async Task CompleteInflightAsync()
        {
            await inflight!;
            await channel.BasicAckAsync(inflightTag, multiple: true, token);
            inflightBatch!.Clear();
            inflight = null;
        }

        while (true)
        {
            var batch = batches[current];
            // Wait for the first delivery of a batch; a batch in flight is acked as soon as it commits.
            var firstDelivery = reader.WaitToReadAsync(token).AsTask();
            if (inflight is not null && await Task.WhenAny(firstDelivery, inflight) == inflight)
            {
                await CompleteInflightAsync();
            }
            await firstDelivery;

            ulong lastTag = 0;
            var woke = DateTime.UtcNow;
            var deadline = woke + flushInterval;
            while (batch.Count < _options.BatchSize)
            {
                var gathered = 0;
                while (batch.Count < _options.BatchSize && reader.TryRead(out var delivery))
                {
                    batch.Add(delivery.Result, (long)delivery.Tag, () => delivery.Raw!);
                    lastTag = delivery.Tag;
                    gathered++;
                }
                var now = DateTime.UtcNow;
                var left = deadline - now;
                if (batch.Count >= _options.BatchSize || left <= TimeSpan.Zero)
                {
                    break;
                }
                // Caught up with the broker: sleep about as long as the missing deliveries take to
                // arrive at the rate the last wait saw (until the deadline if none came), rather than
                // waking this loop and a timer for every message or every 2 ms.
                if (inflight is { IsCompleted: true })
                {
                    // The previous batch committed meanwhile: give the broker its credit back now.
                    await CompleteInflightAsync();
                }
                await Task.Delay(NextWait(now - woke, gathered, _options.BatchSize - batch.Count, left), token);
                woke = DateTime.UtcNow;
            }

            // One write at a time: a second concurrent COPY gained no rows/s on PostgreSQL and cost
            // ~10 us of CPU per row here (bench write --parallel 2); deliveries keep arriving and
            // being parsed into the channel (prefetch) while the previous batch commits.
            if (inflight is not null)
            {
                await CompleteInflightAsync();
            }
            var write = WriteWithRetryAsync(batch, token);
            inflight = write;
            inflightBatch = batch;
            inflightTag = lastTag;
            current ^= 1;
        }
    }

    /// <summary>
    /// How long a batch waits for its <paramref name="missing"/> deliveries, given that
    /// <paramref name="gathered"/> arrived in the <paramref name="elapsed"/> since the last wake:
    /// at least <see cref="GatherInterval"/>, at most <paramref name="left"/> before the deadline.
    /// </summary>
    internal static TimeSpan NextWait(TimeSpan elapsed, int gathered, int missing, TimeSpan left)
    {
        var wait = gathered == 0
            ? left
            : TimeSpan.FromTicks((long)Math.Min(elapsed.Ticks * (double)missing / gathered, left.Ticks));
        return wait < GatherInterval ? (left < GatherInterval ? left : GatherInterval) : wait;
    }

    private async Task WriteWithRetryAsync(IngestBatch batch, CancellationToken token)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                await ingest.WriteAsync(batch, token);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Nothing is acknowledged until the batch commits; the broker keeps the messages meanwhile.
                _lastError = ex.Message;
                logger.LogError(ex, "Writing a batch of {Count} events failed; retrying in {Delay} ms", batch.Count, (int)delay.TotalMilliseconds);
                await Task.Delay(delay, token);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        => Task.FromResult(_connected
            ? HealthCheckResult.Healthy($"consuming {_options.Queue}")
            : HealthCheckResult.Degraded($"not connected to {endpoint}{(_lastError is null ? "" : $" ({_lastError})")}"));

    private readonly record struct Delivery(ulong Tag, ParseResult Result, string? Raw);

    /// <summary>
    /// Parses each delivery in the client's dispatch callback (the body buffer is only valid during
    /// the call) and hands the result to the batch loop. A direct consumer rather than
    /// <see cref="AsyncEventingBasicConsumer"/>: no event-args object and no handler list per message.
    /// </summary>
    private delegate ParseResult Parse(ReadOnlySpan<byte> json, in DecisionContext context);

    private sealed class DeliveryConsumer(IChannel channel, Parse parse, ChannelWriter<Delivery> deliveries, CancellationTokenSource session)
        : AsyncDefaultBasicConsumer(channel)
    {
        public override Task HandleBasicDeliverAsync(string consumerTag, ulong deliveryTag, bool redelivered, string exchange, string routingKey,
            IReadOnlyBasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken = default)
        {
            var span = body.Span;
            ParseResult result;
            try
            {
                result = span.Length > DecisionParser.MaxEventBytes
                    ? ParseResult.Reject($"body is {span.Length} bytes, over the 1 MiB limit")
                    : parse(span, new DecisionContext(IngestSources.Bus));
            }
            catch (Exception ex)
            {
                // Never let a delivery escape the batch: one that is not in a batch would be acked by
                // the next batch's multiple-ack without a trace. The parser does not throw; this is the
                // backstop that keeps "stored or rejected" true whatever happens.
                result = ParseResult.Reject($"unreadable body ({ex.GetType().Name}: {ex.Message})");
            }
            var raw = result.IsAccepted ? null : RawBody.From(span);
            deliveries.TryWrite(new Delivery(deliveryTag, result, raw));
            return Task.CompletedTask;
        }

        /// <summary>A queue deleted or restarted under us cancels the consumer while the channel stays open: start over.</summary>
        protected override Task OnCancelAsync(string[] consumerTags, CancellationToken cancellationToken = default)
        {
            session.Cancel();
            return Task.CompletedTask;
        }
    }
}
