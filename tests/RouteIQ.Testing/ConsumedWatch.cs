using MassTransit;

namespace RouteIQ.Testing;

/// <summary>
/// Completes once a message of type <typeparamref name="T"/> matching a predicate has been
/// consumed on a bus (all its consumers done): the condition a "nothing changes after this
/// event" assertion waits for, instead of a fixed delay. Connect it before publishing.
/// </summary>
public sealed class ConsumedWatch<T> : IConsumeMessageObserver<T>, IDisposable
    where T : class
{
    private readonly TaskCompletionSource _consumed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Func<T, bool> _match;
    private ConnectHandle? _handle;

    private ConsumedWatch(Func<T, bool> match) => _match = match;

    public static ConsumedWatch<T> Start(IBus bus, Func<T, bool> match)
    {
        var watch = new ConsumedWatch<T>(match);
        watch._handle = bus.ConnectConsumeMessageObserver(watch);
        return watch;
    }

    public Task WaitAsync(TimeSpan timeout) => _consumed.Task.WaitAsync(timeout);

    Task IConsumeMessageObserver<T>.PreConsume(ConsumeContext<T> context) => Task.CompletedTask;

    Task IConsumeMessageObserver<T>.PostConsume(ConsumeContext<T> context)
    {
        if (_match(context.Message))
        {
            _consumed.TrySetResult();
        }
        return Task.CompletedTask;
    }

    Task IConsumeMessageObserver<T>.ConsumeFault(ConsumeContext<T> context, Exception exception)
    {
        if (_match(context.Message))
        {
            _consumed.TrySetException(new InvalidOperationException($"consuming {typeof(T).Name} failed", exception));
        }
        return Task.CompletedTask;
    }

    public void Dispose() => _handle?.Disconnect();
}
