using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>
/// Recovers jobs whose runner went silent: a running job without a heartbeat for 3×
/// <c>RouteIQ:Jobs:HeartbeatSeconds</c> is marked <c>lost</c> and dispatched again (a new
/// attempt, through the outbox) while attempts remain, else failed with "runner lost". The
/// transition is an optimistic-concurrency update, so of two replicas only one re-dispatches.
/// </summary>
public sealed class LostJobSweeper(
    IDbContextFactory<LedgerDbContext> contexts,
    JobLedger ledger,
    IOptions<JobOptions> options,
    TimeProvider time,
    ILogger<LostJobSweeper> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromSeconds(options.Value.HeartbeatSeconds);
        using var timer = new PeriodicTimer(period, time);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await timer.WaitForNextTickAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Lost-job sweep failed");
            }
        }
    }

    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var silence = TimeSpan.FromSeconds(3 * options.Value.HeartbeatSeconds);
        var cutoff = time.GetUtcNow() - silence;
        List<Guid> suspects;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            var running = await db.Jobs.AsNoTracking()
                .Where(j => j.State == JobStates.Running && j.Phase == JobPhases.Training)
                .Select(j => new { j.Id, j.LastHeartbeatAt, j.StartedAt })
                .ToListAsync(cancellationToken);
            suspects = running.Where(j => (j.LastHeartbeatAt ?? j.StartedAt ?? DateTimeOffset.MaxValue) < cutoff).Select(j => j.Id).ToList();
        }

        var recovered = 0;
        foreach (var id in suspects)
        {
            await ledger.ApplyAsync(id, (job, db, now) =>
            {
                // Re-checked on the fresh row: a heartbeat or another replica may have got there first.
                if (job.State != JobStates.Running || job.Phase != JobPhases.Training || (job.LastHeartbeatAt ?? job.StartedAt ?? now) >= now - silence)
                {
                    return false;
                }
                var (lostNode, lostAttempt, silentSince) = (job.Node, job.Attempt, job.LastHeartbeatAt ?? job.StartedAt);
                if (JobLifecycle.Lost(job, db, now, options.Value.MaxAttempts, out var counted))
                {
                    logger.LogWarning("Job {JobId} lost on {Node} (attempt {Attempt}, silent since {Since}); dispatching attempt {Next}",
                        job.Id, lostNode, lostAttempt, silentSince, job.Attempt);
                }
                else
                {
                    logger.LogError("Job {JobId} lost on {Node} after {Attempts} attempt(s); failing it", job.Id, lostNode, counted);
                }
                recovered++;
                return true;
            }, cancellationToken);
        }
        return recovered;
    }
}
