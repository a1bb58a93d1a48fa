using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using RouteIQ.Artifacts;
using RouteIQ.Rollout.Registry;
using RouteIQ.ServiceDefaults;
using RouteIQ.Workloads;

namespace RouteIQ.Rollout.Serving;

/// <summary>What a serving workload runs.</summary>
public sealed record ServeSpec(Guid DeploymentId, string Model, int Version, string Image, IReadOnlyList<string>? Command, int WaitReadySeconds);

/// <summary>A serving workload that answered its readiness probe.</summary>
public sealed record StartedServer(Guid DeploymentId, string ServerUrl, string WorkloadName, string WorkloadId, string Kind, long HealthyTimestamp);

/// <summary>
/// Starts, probes and retires serving workloads through the shared <see cref="IWorkloadLauncher"/>.
/// Serving workloads carry <c>routeiq.node = {node}/serve</c> and <c>routeiq.job-id = deployment
/// id</c>, so the launcher's orphan sweep for that node name finds exactly the servers, never a
/// trainer of the same node.
/// </summary>
public sealed class ServingManager(
    IWorkloadLauncher launcher,
    IArtifactStore store,
    IOptions<RolloutOptions> options,
    IOptions<RouteIQOptions> routeiq,
    ManifestSigning signing,
    ILogger<ServingManager> logger) : IAsyncDisposable
{
    public const string RoleLabel = "routeiq.role";
    public const string ModelLabel = "routeiq.model";
    public const string VersionLabel = "routeiq.version";

    private readonly ConcurrentDictionary<Guid, IWorkload> _running = new();
    private readonly HttpClient _probe = new(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) })
    {
        Timeout = TimeSpan.FromSeconds(3),
    };

    public string LauncherKind => launcher.Kind;

    /// <summary>The node name serving workloads are labelled with (the launcher sweeps orphans per node name).</summary>
    public string ServeNode => $"{routeiq.Value.ResolvedNodeName}/serve";

    /// <summary>Starts a candidate and waits until <c>GET /ping</c> answers 2xx; throws 503 "candidate not healthy" (the candidate removed) otherwise.</summary>
    public async Task<StartedServer> StartAsync(ServeSpec spec, CancellationToken cancellationToken)
    {
        var port = FreeLoopbackPort();
        var versionKey = ArtifactKeys.RegistryVersion(spec.Model, spec.Version);
        var environment = new Dictionary<string, string>(options.Value.ServeEnvironment, StringComparer.Ordinal);
        var mounts = new Dictionary<string, string>(StringComparer.Ordinal);
        if (store is FileArtifactStore files)
        {
            var path = Path.TrimEndingDirectorySeparator(files.GetPath(versionKey));
            if (launcher.Kind == "docker")
            {
                mounts[path] = "/model";
                environment["SERVE_MODEL_URI"] = "/model";
            }
            else
            {
                environment["SERVE_MODEL_URI"] = path;
            }
        }
        else
        {
            environment["SERVE_MODEL_URI"] = store.GetUri(versionKey);
        }
        environment["SERVE_PORT"] = port.ToString(CultureInfo.InvariantCulture);
        if ((options.Value.ServeHost ?? (launcher.Kind == "process" ? "127.0.0.1" : null)) is { } host)
        {
            environment.TryAdd("SERVE_HOST", host);
        }
        environment["ROUTEIQ_MODEL"] = spec.Model;
        environment["ROUTEIQ_MODEL_VERSION"] = spec.Version.ToString(CultureInfo.InvariantCulture);
        // The server verifies every manifest it loads (first load and each hot reload) with the
        // key rollout signs with, so bytes changed in the store after the roll are never served.
        foreach (var (name, value) in signing.ServerEnvironment)
        {
            environment[name] = value;
        }

        var workloadSpec = new WorkloadSpec
        {
            Name = $"routeiq-serve-{spec.Model}-v{spec.Version}-{spec.DeploymentId.ToString("N")[..8]}",
            Image = spec.Image,
            Command = spec.Command,
            Environment = environment,
            ReadOnlyMounts = mounts,
            Labels = new Dictionary<string, string>
            {
                [WorkloadLabels.JobId] = spec.DeploymentId.ToString(),
                [WorkloadLabels.Node] = ServeNode,
                [RoleLabel] = "serve",
                [ModelLabel] = spec.Model,
                [VersionLabel] = spec.Version.ToString(CultureInfo.InvariantCulture),
            },
        };

        IWorkload workload;
        try
        {
            workload = await launcher.StartAsync(workloadSpec, cancellationToken);
        }
        catch (WorkloadLaunchException ex)
        {
            logger.LogWarning("Candidate {Model} v{Version} could not start: {Problem}", spec.Model, spec.Version, ex.Message);
            throw new RegistryException(503, $"candidate not healthy: {ex.Message}");
        }

        var url = $"http://127.0.0.1:{port}";
        var sw = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(Math.Max(1, spec.WaitReadySeconds));
        var interval = TimeSpan.FromMilliseconds(options.Value.ProbeIntervalMilliseconds);
        try
        {
            while (true)
            {
                if (await ProbeAsync(url, cancellationToken))
                {
                    var healthy = Stopwatch.GetTimestamp();
                    _running[spec.DeploymentId] = workload;
                    logger.LogInformation("Candidate {Workload} ({Model} v{Version}) healthy at {ServerUrl} after {Seconds:0.0}s",
                        workload.Name, spec.Model, spec.Version, url, sw.Elapsed.TotalSeconds);
                    return new StartedServer(spec.DeploymentId, url, workload.Name, workload.Id, launcher.Kind, healthy);
                }
                if (workload.Completion.IsCompleted)
                {
                    var exit = await workload.Completion;
                    throw new RegistryException(503, $"candidate not healthy: it exited with code {exit.ExitCode} ({Tail(workload)})");
                }
                if (sw.Elapsed >= deadline)
                {
                    throw new RegistryException(503, $"candidate not healthy: no 2xx from GET /ping within {spec.WaitReadySeconds}s");
                }
                await Task.WhenAny(Task.Delay(interval, cancellationToken), workload.Completion);
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        catch
        {
            await RemoveWorkloadAsync(workload);
            throw;
        }
    }

    private static string Tail(IWorkload workload)
    {
        var tail = workload.LogTail(400).Trim();
        return tail.Length == 0 ? "no output" : $"output: {tail}";
    }

    public async Task<bool> ProbeAsync(string? serverUrl, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(serverUrl))
        {
            return false;
        }
        try
        {
            using var response = await _probe.GetAsync(serverUrl.TrimEnd('/') + "/ping", HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Stops a deployment's server: the one this process started, or (after a restart) the one it adopted.</summary>
    public async Task RetireAsync(Guid deploymentId, IReadOnlySet<Guid> keep, CancellationToken cancellationToken)
    {
        if (_running.TryRemove(deploymentId, out var workload))
        {
            await RemoveWorkloadAsync(workload);
            return;
        }
        // Not started by this process: the launcher's sweep removes every server of this node not in keep.
        await RemoveOrphansAsync(keep, cancellationToken);
    }

    /// <summary>Removes every serving workload of this node whose deployment is not in <paramref name="keep"/> (after a restart).</summary>
    public async Task<IReadOnlyList<string>> RemoveOrphansAsync(IReadOnlySet<Guid> keep, CancellationToken cancellationToken)
    {
        var live = new HashSet<Guid>(keep);
        live.UnionWith(_running.Keys);
        var removed = await launcher.RemoveOrphansAsync(ServeNode, live, cancellationToken);
        foreach (var name in removed)
        {
            logger.LogWarning("Removed serving workload {Workload}: no recorded deployment uses it", name);
        }
        return removed;
    }

    private async Task RemoveWorkloadAsync(IWorkload workload)
    {
        try
        {
            await workload.StopAsync(TimeSpan.FromSeconds(options.Value.StopGraceSeconds));
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Stopping serving workload {Workload} failed", workload.Name);
        }
        await workload.DisposeAsync();
        logger.LogInformation("Serving workload {Workload} removed", workload.Name);
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        // By default servers outlive the rollout process: a restarted rollout adopts them, so a
        // restart never takes a model offline. StopServersOnShutdown is for embedded/dev use.
        if (options.Value.StopServersOnShutdown)
        {
            foreach (var id in _running.Keys.ToList())
            {
                if (_running.TryRemove(id, out var workload))
                {
                    await RemoveWorkloadAsync(workload);
                }
            }
            await launcher.RemoveOrphansAsync(ServeNode, new HashSet<Guid>(), CancellationToken.None);
        }
        _probe.Dispose();
    }
}
