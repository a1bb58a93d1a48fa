using RouteIQ.Contracts;

namespace RouteIQ.Workloads;

/// <summary>
/// Starts trainers and serving runtimes. One contract, several launchers: Docker Engine
/// (containers) and local processes; Kubernetes Jobs later. See "Workload contract" in
/// ARCHITECTURE.md.
/// </summary>
public interface IWorkloadLauncher
{
    /// <summary><c>docker</c> or <c>process</c>.</summary>
    string Kind { get; }

    /// <summary>Starts a workload. Throws <see cref="WorkloadLaunchException"/> when it cannot be started (unknown image, bad command).</summary>
    Task<IWorkload> StartAsync(WorkloadSpec spec, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes the <c>routeiq.*</c>-labelled workloads of <paramref name="node"/> whose job is not in
    /// <paramref name="liveJobIds"/> (after a runner restart), returning what was removed.
    /// </summary>
    Task<IReadOnlyList<string>> RemoveOrphansAsync(string node, IReadOnlySet<Guid> liveJobIds, CancellationToken cancellationToken = default);
}

/// <summary>A running workload. Disposing it stops (if still running) and removes it.</summary>
public interface IWorkload : IAsyncDisposable
{
    /// <summary>Container name or process description (<c>routeiq-train-{trainer}-{short job id}</c>).</summary>
    string Name { get; }

    /// <summary>Container id or process id.</summary>
    string Id { get; }

    /// <summary>Completes when the workload exits (or is killed on timeout / stop).</summary>
    Task<WorkloadExit> Completion { get; }

    /// <summary>The last <paramref name="maxChars"/> characters of its combined stdout/stderr so far.</summary>
    string LogTail(int maxChars = 1200);

    /// <summary>The full log so far (bounded by the launcher's log limit).</summary>
    string FullLog();

    /// <summary>Output from character <paramref name="offset"/> on, at most <paramref name="maxChars"/> (see <see cref="WorkloadLog.ReadFrom"/>).</summary>
    LogChunk ReadLog(long offset, int maxChars);

    /// <summary>Stops it (SIGTERM, then kill after <paramref name="grace"/>); Completion then reports it.</summary>
    Task StopAsync(TimeSpan grace, CancellationToken cancellationToken = default);
}

/// <summary>What a workload needs to start.</summary>
public sealed record WorkloadSpec
{
    /// <summary>Unique name (container name; process label).</summary>
    public required string Name { get; init; }

    /// <summary>Image (Docker) or built-in workload name (process mode, e.g. <c>routeiq/router-trainer</c>).</summary>
    public required string Image { get; init; }

    /// <summary>argv overriding the image entrypoint; in process mode the program and its arguments.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary><c>routeiq.job-id</c>, <c>routeiq.trainer</c>, <c>routeiq.node</c>, …</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Host directory bound at <c>/output</c> (container) or used as <c>ROUTEIQ_OUTPUT_DIR</c> (process).</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Extra host directories mounted read-only: host path → container path.</summary>
    public IReadOnlyDictionary<string, string> ReadOnlyMounts { get; init; } = new Dictionary<string, string>();

    /// <summary>0 none, -1 all, n a count.</summary>
    public int Gpus { get; init; }

    public ResourceLimits? Resources { get; init; }

    /// <summary>Killed and reported as exit 124 after this long; null = no limit (servers).</summary>
    public TimeSpan? Timeout { get; init; }
}

/// <summary>How a workload ended.</summary>
public sealed record WorkloadExit(int ExitCode, bool TimedOut, bool Stopped)
{
    public const int TimeoutExitCode = 124;
}

public sealed class WorkloadLaunchException(string message, Exception? inner = null) : Exception(message, inner);
