using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace RouteIQ.TelemetryIngest.Store;

/// <summary>
/// Keeps the rejected-events table within its caps (<c>RouteIQ:Telemetry:RejectedMaxRows</c>,
/// <c>RejectedMaxAgeHours</c>), every <c>RejectedPruneSeconds</c>: rows past the age cap go, then
/// the oldest ids beyond the count cap. Deletes by id and <c>received_at_ms</c> (both indexed).
/// </summary>
public sealed partial class RejectedRetention(
    IDbContextFactory<TelemetryDbContext> contexts,
    IOptions<TelemetryIngestOptions> options,
    TimeProvider timeProvider,
    ILogger<RejectedRetention> logger) : BackgroundService
{
    /// <summary>Applies both caps once; returns the rows deleted.</summary>
    public async Task<int> PruneAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var cutoff = timeProvider.GetUtcNow().AddHours(-o.RejectedMaxAgeHours).ToUnixTimeMilliseconds();
        var deleted = await db.RejectedEvents.Where(r => r.ReceivedAtMs < cutoff).ExecuteDeleteAsync(cancellationToken);
        var newestDropped = await db.RejectedEvents.OrderByDescending(r => r.Id).Skip((int)Math.Min(o.RejectedMaxRows, int.MaxValue))
            .Select(r => (long?)r.Id).FirstOrDefaultAsync(cancellationToken);
        if (newestDropped is { } id)
        {
            deleted += await db.RejectedEvents.Where(r => r.Id <= id).ExecuteDeleteAsync(cancellationToken);
        }
        if (deleted > 0)
        {
            LogPruned(deleted, o.RejectedMaxRows, o.RejectedMaxAgeHours);
        }
        return deleted;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.RejectedPruneSeconds), timeProvider);
        do
        {
            try
            {
                await PruneAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(LogLevel.Information, "Deleted {Count} rejected event(s) beyond the caps ({MaxRows} rows, {MaxAgeHours} h)")]
    private partial void LogPruned(int count, long maxRows, int maxAgeHours);

    [LoggerMessage(LogLevel.Warning, "Pruning rejected events failed: {Error}")]
    private partial void LogFailed(string error);
}
