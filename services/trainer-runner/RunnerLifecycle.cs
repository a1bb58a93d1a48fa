using Microsoft.Extensions.Options;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner;

/// <summary>
/// Start: removes the <c>routeiq.*</c> workloads of this node that no live job owns (left by a
/// runner that was killed), before the bus starts delivering work. Stop: runs in
/// <see cref="StoppingAsync"/>, i.e. before any hosted service (the bus included) stops, so
/// handed-back jobs can still be reported.
/// </summary>
public sealed partial class RunnerLifecycle(
    TrainJobs jobs,
    RunnerState state,
    IWorkloadLauncher launcher,
    IOptions<RunnerOptions> options,
    ILogger<RunnerLifecycle> logger) : IHostedLifecycleService
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        try
        {
            var live = state.Running().Select(j => j.JobId).ToHashSet();
            var removed = await launcher.RemoveOrphansAsync(state.Node, live, cancellationToken).ConfigureAwait(false);
            state.RemovedOrphans = removed;
            if (removed.Count > 0)
            {
                LogOrphans(state.Node, removed.Count, string.Join(", ", removed));
            }
            LogReady(state.Node, launcher.Kind, state.Slots, state.Gpus);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogOrphanCleanupFailed(e, state.Node);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) =>
        jobs.DrainAsync(TimeSpan.FromSeconds(options.Value.ShutdownGraceSeconds), cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Warning, "Node {Node}: removed {Count} orphan workloads: {Workloads}")]
    private partial void LogOrphans(string node, int count, string workloads);

    [LoggerMessage(LogLevel.Information, "Trainer runner {Node} ready: {Launcher} launcher, {Slots} slots, {Gpus} GPUs")]
    private partial void LogReady(string node, string launcher, int slots, int gpus);

    [LoggerMessage(LogLevel.Error, "Node {Node}: orphan cleanup failed")]
    private partial void LogOrphanCleanupFailed(Exception e, string node);
}
