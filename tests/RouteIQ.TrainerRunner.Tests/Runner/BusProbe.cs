using System.Collections.Concurrent;
using MassTransit;
using RouteIQ.Contracts;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>
/// The test's own bus on the runners' vhost: sends <c>TrainRequested</c> the way gateway-admin
/// does (to the cpu/gpu queue), publishes <c>CancelTrain</c>, and records every runner event.
/// </summary>
public sealed class BusProbe : IAsyncDisposable
{
    private readonly IBusControl _bus;
    private readonly ConcurrentQueue<object> _events = new();
    private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BusProbe(string rabbitUri)
    {
        var uri = new Uri(rabbitUri);
        var credentials = Uri.UnescapeDataString(uri.UserInfo).Split(':', 2);
        _bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri($"rabbitmq://{uri.Host}:{uri.Port}{uri.AbsolutePath}"), h =>
            {
                h.Username(credentials[0]);
                h.Password(credentials.Length > 1 ? credentials[1] : "");
            });
            cfg.ReceiveEndpoint($"test-probe-{Guid.NewGuid():N}", e =>
            {
                e.AutoDelete = true;
                e.Durable = false;
                e.Handler<TrainStarted>(c => Record(c.Message));
                e.Handler<TrainHeartbeat>(c => Record(c.Message));
                e.Handler<TrainCompleted>(c => Record(c.Message));
                e.Handler<TrainFailed>(c => Record(c.Message));
                e.Handler<TrainLogAppended>(c => Record(c.Message));
            });
        });
    }

    public static async Task<BusProbe> StartAsync(string rabbitUri)
    {
        var probe = new BusProbe(rabbitUri);
        await probe._bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        return probe;
    }

    public IEnumerable<T> All<T>() => _events.OfType<T>();

    public IEnumerable<object> For(Guid jobId) => _events.Where(e => e switch
    {
        TrainStarted s => s.JobId == jobId,
        TrainHeartbeat h => h.JobId == jobId,
        TrainCompleted c => c.JobId == jobId,
        TrainFailed f => f.JobId == jobId,
        TrainLogAppended l => l.JobId == jobId,
        _ => false,
    });

    public async Task SendAsync(TrainRequested request, string? queue = null)
    {
        var endpoint = await _bus.GetSendEndpoint(queue is null ? RunnerQueues.For(request.Gpus) : new Uri($"queue:{queue}"));
        await endpoint.Send(request);
    }

    public Task PublishAsync<T>(T message) where T : class => _bus.Publish(message);

    public async Task<T> WaitForAsync<T>(Func<T, bool> match, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var arrived = Volatile.Read(ref _arrived).Task;
            if (_events.OfType<T>().FirstOrDefault(match) is { } found)
            {
                return found;
            }
            try
            {
                await arrived.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                var seen = string.Join("\n", _events.Select(e => e.GetType().Name + " " + e));
                throw new TimeoutException($"no matching {typeof(T).Name} within {timeout.TotalSeconds:0}s; seen:\n{seen}");
            }
        }
    }

    /// <summary>The job's final event: <see cref="TrainCompleted"/> or <see cref="TrainFailed"/>.</summary>
    public Task<object> WaitForEndAsync(Guid jobId, TimeSpan timeout) =>
        WaitForAsync<object>(e => e is TrainCompleted c && c.JobId == jobId || e is TrainFailed f && f.JobId == jobId, timeout);

    private Task Record(object message)
    {
        _events.Enqueue(message);
        Interlocked.Exchange(ref _arrived, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await _bus.StopAsync();

    public static TrainRequested Job(string script, Action<TrainRequestedBuilder>? customize = null, string? image = null)
    {
        var builder = new TrainRequestedBuilder();
        customize?.Invoke(builder);
        return new TrainRequested
        {
            JobId = builder.JobId,
            Trainer = builder.Trainer,
            Image = image ?? Testing.TestInfra.TestImage,
            Command = ["/bin/sh", "-c", script],
            Environment = builder.Environment,
            Parameters = builder.Parameters,
            TimeoutSeconds = builder.TimeoutSeconds,
            ModelName = builder.ModelName,
            Gpus = builder.Gpus,
            Attempt = builder.Attempt,
            DatasetUri = builder.DatasetUri,
            RollOnSuccess = true,
            Alias = "staging",
            ServeImage = "routeiq/router-server:1",
            ImageKey = "fast",
            WaitReadySeconds = 33,
            RequestedAt = DateTimeOffset.UtcNow,
        };
    }
}

public sealed class TrainRequestedBuilder
{
    public Guid JobId { get; set; } = Guid.NewGuid();
    public string Trainer { get; set; } = "knn";
    public Dictionary<string, string> Environment { get; set; } = [];
    public Dictionary<string, string?> Parameters { get; set; } = [];
    public int TimeoutSeconds { get; set; } = 60;
    public string ModelName { get; set; } = "knn-router";
    public int Gpus { get; set; }
    public int Attempt { get; set; } = 1;
    public string? DatasetUri { get; set; }
}
