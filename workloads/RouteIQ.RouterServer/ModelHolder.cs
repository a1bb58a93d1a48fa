namespace RouteIQ.RouterServer;

/// <summary>
/// The model being served. Requests read <see cref="Current"/> once and use that version to
/// the end, so a reload (an atomic reference swap) never fails a request in flight; the old
/// version is disposed only after a grace period.
/// </summary>
public sealed class ModelHolder(ILogger<ModelHolder> logger) : IDisposable
{
    private static readonly TimeSpan DisposeGrace = TimeSpan.FromSeconds(30);
    private LoadedModel? _current;

    public LoadedModel? Current => Volatile.Read(ref _current);

    public string? LastError { get; set; }

    public long Reloads;

    public void Swap(LoadedModel next)
    {
        var previous = Interlocked.Exchange(ref _current, next);
        Interlocked.Increment(ref Reloads);
        LastError = null;
        logger.LogInformation("Serving model version {Version} ({RouterType}, {Models} models) from {Fingerprint}",
            next.Version ?? "(no manifest)", next.Model.RouterType, next.Model.Models.Count, next.Fingerprint);
        if (previous is not null)
        {
            _ = Task.Delay(DisposeGrace).ContinueWith(_ =>
            {
                previous.Model.Dispose();
                ModelLoader.TryDelete(previous.LocalDirectory);
            }, TaskScheduler.Default);
        }
    }

    public void Dispose()
    {
        var current = Interlocked.Exchange(ref _current, null);
        if (current is not null)
        {
            current.Model.Dispose();
            ModelLoader.TryDelete(current.LocalDirectory);
        }
    }
}
