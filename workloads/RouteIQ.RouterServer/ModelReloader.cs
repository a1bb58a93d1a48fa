namespace RouteIQ.RouterServer;

/// <summary>Loads the model at start, then polls the folder's fingerprint and swaps in each new version.</summary>
public sealed class ModelReloader(ModelLoader loader, ModelHolder holder, ServerSettings settings, ILogger<ModelReloader> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.ReloadInterval);
        string? failedFingerprint = null;
        do
        {
            try
            {
                var fingerprint = await loader.FingerprintAsync(stoppingToken);
                if (fingerprint != holder.Current?.Fingerprint && fingerprint != failedFingerprint)
                {
                    var loaded = await loader.LoadAsync(stoppingToken);
                    holder.Swap(loaded);
                    failedFingerprint = null;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A bad version never replaces a good one; the same bad version is not retried until the folder changes.
                holder.RecordFailure(ex);
                try
                {
                    failedFingerprint = await loader.FingerprintAsync(stoppingToken);
                }
                catch (Exception) when (!stoppingToken.IsCancellationRequested)
                {
                    failedFingerprint = null;
                }
                logger.LogError("Cannot load the model from {ModelUri}: {Error}; {Serving}", settings.ModelUri, ex.Message,
                    holder.Current is { } c ? $"still serving version {c.Version ?? "(no manifest)"}" : "not ready");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
