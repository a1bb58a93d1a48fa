using RouteIQ.Artifacts;

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

    public string? LastError { get; private set; }

    /// <summary>When the last refused load happened; null after a successful one.</summary>
    public DateTimeOffset? LastErrorAt { get; private set; }

    /// <summary>True while the last refused load failed its manifest check (signature, hashes, paths).</summary>
    public bool LastErrorWasVerification { get; private set; }

    public long Reloads;

    /// <summary>Loads refused, for any reason.</summary>
    public long LoadFailures;

    /// <summary>Loads refused because manifest.json or its files did not verify.</summary>
    public long VerificationFailures;

    /// <summary>A refused load: the model served so far (if any) stays; the failure shows in /health and /metrics.</summary>
    public void RecordFailure(Exception error)
    {
        LastError = error.Message;
        LastErrorAt = DateTimeOffset.UtcNow;
        LastErrorWasVerification = error is ManifestVerificationException;
        Interlocked.Increment(ref LoadFailures);
        if (LastErrorWasVerification)
        {
            Interlocked.Increment(ref VerificationFailures);
        }
    }

    public void Swap(LoadedModel next)
    {
        var previous = Interlocked.Exchange(ref _current, next);
        Interlocked.Increment(ref Reloads);
        LastError = null;
        LastErrorAt = null;
        LastErrorWasVerification = false;
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
