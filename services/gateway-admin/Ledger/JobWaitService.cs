using Microsoft.Extensions.Options;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>
/// Waits for a job's outcome without polling the database in a loop: the row is read once per
/// wake (a <see cref="RouteIQ.Contracts.JobStateChanged"/>), with a slow timer as a safety net.
/// </summary>
public sealed class JobWaitService(JobLedger ledger, JobWaiters waiters, TimeProvider time, IOptions<AdminOptions> options)
{
    private static readonly TimeSpan SafetyNet = TimeSpan.FromSeconds(5);

    /// <summary>The job once it is finished (a successful plain train also with its registered version, within a grace), or its latest row at the deadline.</summary>
    public async Task<Job?> WaitAsync(Guid jobId, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + maxWait;
        var versionGrace = TimeSpan.FromSeconds(options.Value.VersionGraceSeconds);
        while (true)
        {
            var change = waiters.NextChange(jobId);
            try
            {
                var job = await ledger.GetAsync(jobId, cancellationToken);
                if (job is null || IsSettled(job, versionGrace))
                {
                    return job;
                }
                var now = time.GetUtcNow();
                var remaining = deadline - now;
                if (job.State == JobStates.Succeeded && job.FinishedAt is { } finished)
                {
                    remaining = TimeSpan.FromTicks(Math.Min(remaining.Ticks, (finished + versionGrace - now).Ticks));
                }
                if (remaining <= TimeSpan.Zero)
                {
                    return job;
                }
                var nap = remaining < SafetyNet ? remaining : SafetyNet;
                await Task.WhenAny(change, Task.Delay(nap, time, cancellationToken));
                cancellationToken.ThrowIfCancellationRequested();
            }
            finally
            {
                waiters.Release(jobId, change);
            }
        }
    }

    private bool IsSettled(Job job, TimeSpan versionGrace)
    {
        if (!JobStates.IsTerminal(job.State))
        {
            return false;
        }
        if (job.State != JobStates.Succeeded || job.Kind != JobKinds.Train || job.RollOnSuccess)
        {
            return true;
        }
        // A plain train answers with its registered version; rollout registers it right after TrainCompleted.
        return job.TrainResult()?.Version is not null || job.FinishedAt is null || time.GetUtcNow() - job.FinishedAt >= versionGrace;
    }
}
