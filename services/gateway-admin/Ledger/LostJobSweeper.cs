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
                var lostNode = job.Node;
                var lostAttempt = job.Attempt;
                // Stop the silent attempt in case its runner is alive but cut off.
                db.Outbox.Add(OutboxMessages.Publish(job.Id, new CancelTrain { JobId = job.Id, Node = lostNode, Attempt = lostAttempt, Reason = "runner lost", RequestedAt = now }, now));
                var counted = job.Attempt - job.HandBacks;
                if (counted < options.Value.MaxAttempts)
                {
                    logger.LogWarning("Job {JobId} lost on {Node} (attempt {Attempt}, silent since {Since}); dispatching attempt {Next}",
                        job.Id, lostNode, lostAttempt, job.LastHeartbeatAt ?? job.StartedAt, lostAttempt + 1);
                    job.State = JobStates.Lost;
                    JobRedispatch.Requeue(job, db, now);
                }
                else
                {
                    logger.LogError("Job {JobId} lost on {Node} after {Attempts} attempt(s); failing it", job.Id, lostNode, counted);
                    job.State = JobStates.Failed;
                    job.FinishedAt = now;
                    job.StatusCode = 500;
                    job.ErrorJson = new JsonObject
                    {
                        ["error"] = "runner lost",
                        ["job_id"] = job.Id,
                        ["trainer"] = job.Trainer,
                        ["node"] = lostNode,
                        ["attempts"] = counted,
                        ["logs_tail"] = TrainFailedConsumer.Tail(job.LogTail),
                    }.ToJsonString();
                }
                recovered++;
                return true;
            }, cancellationToken);
        }
        return recovered;
    }
}
