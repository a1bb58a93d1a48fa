using System.Globalization;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace RouteIQ.Workloads;

/// <summary>
/// Runs workloads as Docker Engine containers (Docker.DotNet, <c>DOCKER_HOST</c> honoured):
/// labels, environment, <c>command</c> override, GPU device requests, the configured network
/// mode, the output directory bound at <c>/output</c>, memory/CPU limits. Logs are streamed
/// while it runs; the container is always removed when the workload is disposed.
/// </summary>
public sealed class DockerWorkloadLauncher : IWorkloadLauncher, IDisposable
{
    private readonly WorkloadsOptions _options;
    private readonly ILogger<DockerWorkloadLauncher> _logger;
    private readonly DockerClient _client;

    public DockerWorkloadLauncher(IOptions<WorkloadsOptions> options, ILogger<DockerWorkloadLauncher> logger)
    {
        _options = options.Value;
        _logger = logger;
        _client = CreateClient(_options);
    }

    public string Kind => "docker";

    /// <summary>The endpoint used: <c>RouteIQ:Workloads:DockerHost</c>, else <c>DOCKER_HOST</c>, else the local socket.</summary>
    public static Uri ResolveEndpoint(WorkloadsOptions options)
    {
        var text = options.DockerHost;
        if (string.IsNullOrWhiteSpace(text))
        {
            text = Environment.GetEnvironmentVariable("DOCKER_HOST");
        }
        if (string.IsNullOrWhiteSpace(text))
        {
            text = OperatingSystem.IsWindows() ? "npipe://./pipe/docker_engine" : "unix:///var/run/docker.sock";
        }
        return new Uri(text);
    }

    /// <summary>
    /// Docker Engine API 1.41 is what docker.io 20.10 speaks; pinning it (instead of the
    /// client's newer default) keeps every request valid on that daemon and on newer ones,
    /// which still accept 1.41.
    /// </summary>
    internal static DockerClient CreateClient(WorkloadsOptions options) =>
        new DockerClientConfiguration(ResolveEndpoint(options), defaultTimeout: TimeSpan.FromSeconds(100))
            .CreateClient(new System.Version(1, 41));

    /// <summary>True when the Docker endpoint answers a ping within <paramref name="timeout"/>.</summary>
    public static async Task<bool> IsAvailableAsync(WorkloadsOptions options, TimeSpan timeout)
    {
        try
        {
            var endpoint = ResolveEndpoint(options);
            if (endpoint.Scheme == "unix" && !File.Exists(endpoint.LocalPath))
            {
                return false;
            }
            using var client = CreateClient(options);
            using var cts = new CancellationTokenSource(timeout);
            await client.System.PingAsync(cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return false;
        }
    }

    public async Task<IWorkload> StartAsync(WorkloadSpec spec, CancellationToken cancellationToken = default)
    {
        var environment = new Dictionary<string, string>(spec.Environment, StringComparer.Ordinal);
        var binds = new List<string>();
        if (spec.OutputDirectory is { } output)
        {
            Directory.CreateDirectory(output);
            if (!OperatingSystem.IsWindows())
            {
                // Images run as their own (often non-root) user: the per-job folder must be
                // writable whatever uid the container has. It holds nothing but this job's output.
                File.SetUnixFileMode(output, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                    | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute);
            }
            binds.Add($"{Path.GetFullPath(output)}:{WorkloadLabels.ContainerOutputDir}");
            environment[WorkloadLabels.OutputDirVariable] = WorkloadLabels.ContainerOutputDir;
        }
        foreach (var (host, container) in spec.ReadOnlyMounts)
        {
            binds.Add($"{Path.GetFullPath(host)}:{container}:ro");
        }

        var hostConfig = new HostConfig
        {
            NetworkMode = _options.NetworkMode,
            Binds = binds,
            AutoRemove = false,
        };
        if (spec.Gpus != 0)
        {
            hostConfig.DeviceRequests =
            [
                new DeviceRequest { Count = spec.Gpus < 0 ? -1 : spec.Gpus, Capabilities = [["gpu"]] },
            ];
        }
        if (spec.Resources?.MemoryBytes is { } memory)
        {
            hostConfig.Memory = memory;
        }
        if (spec.Resources?.Cpus is { } cpus)
        {
            hostConfig.NanoCPUs = (long)Math.Round(cpus * 1_000_000_000);
        }

        var parameters = new CreateContainerParameters
        {
            Name = spec.Name,
            Image = spec.Image,
            Env = environment.Select(kv => $"{kv.Key}={kv.Value}").ToList(),
            Labels = new Dictionary<string, string>(spec.Labels),
            Cmd = spec.Command is { Count: > 0 } command ? command.ToList() : null,
            HostConfig = hostConfig,
            Tty = false,
        };

        string id;
        try
        {
            id = (await _client.Containers.CreateContainerAsync(parameters, cancellationToken).ConfigureAwait(false)).ID;
        }
        catch (DockerImageNotFoundException e)
        {
            throw new WorkloadLaunchException($"workload {spec.Name}: image '{spec.Image}' not found on this node", e);
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
            throw new WorkloadLaunchException($"workload {spec.Name}: a container with this name already exists", e);
        }
        catch (DockerApiException e)
        {
            throw new WorkloadLaunchException($"workload {spec.Name}: cannot create container: {e.ResponseBody}", e);
        }

        try
        {
            await _client.Containers.StartContainerAsync(id, new ContainerStartParameters(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DockerApiException or OperationCanceledException)
        {
            await RemoveAsync(id).ConfigureAwait(false);
            throw e is DockerApiException api
                ? new WorkloadLaunchException($"workload {spec.Name}: cannot start container: {api.ResponseBody}", e)
                : e;
        }
        _logger.LogInformation("Workload {Workload} started as container {ContainerId} from {Image}", spec.Name, id[..12], spec.Image);
        return new DockerWorkload(this, spec, id, new WorkloadLog(_options.MaxLogChars));
    }

    public async Task<IReadOnlyList<string>> RemoveOrphansAsync(string node, IReadOnlySet<Guid> liveJobIds, CancellationToken cancellationToken = default)
    {
        var containers = await _client.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"{WorkloadLabels.Node}={node}"] = true, [WorkloadLabels.JobId] = true },
            },
        }, cancellationToken).ConfigureAwait(false);

        var removed = new List<string>();
        foreach (var container in containers)
        {
            if (container.Labels.TryGetValue(WorkloadLabels.JobId, out var text) && Guid.TryParse(text, out var jobId)
                && liveJobIds.Contains(jobId))
            {
                continue;
            }
            var name = container.Names.FirstOrDefault()?.TrimStart('/') ?? container.ID[..12];
            await RemoveAsync(container.ID).ConfigureAwait(false);
            _logger.LogWarning("Removed orphan container {Container} of job {JobId} on node {Node}", name, text, node);
            removed.Add(name);
        }
        return removed;
    }

    internal async Task RemoveAsync(string id)
    {
        try
        {
            await _client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true, RemoveVolumes = true })
                .ConfigureAwait(false);
        }
        catch (DockerContainerNotFoundException)
        {
            // Gone already.
        }
        catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
            // Removal already in progress.
        }
        catch (Exception e) when (e is HttpRequestException or IOException or DockerApiException)
        {
            // The engine is unreachable or refused: the container stays labelled, so the next
            // start-up's orphan cleanup removes it.
            _logger.LogWarning(e, "Could not remove container {ContainerId}", id[..Math.Min(12, id.Length)]);
        }
    }

    public void Dispose() => _client.Dispose();

    private sealed class DockerWorkload : IWorkload
    {
        private const int Running = 0, TimedOut = 1, Stopped = 2;
        private readonly DockerWorkloadLauncher _launcher;
        private readonly WorkloadSpec _spec;
        private readonly WorkloadLog _log;
        private readonly CancellationTokenSource _logs = new();
        private readonly Task _logPump;
        private int _ending = Running;
        private int _disposed;

        public DockerWorkload(DockerWorkloadLauncher launcher, WorkloadSpec spec, string id, WorkloadLog log)
        {
            _launcher = launcher;
            _spec = spec;
            _log = log;
            Id = id;
            _logPump = PumpLogsAsync(_logs.Token);
            Completion = MonitorAsync();
        }

        public string Name => _spec.Name;
        public string Id { get; }
        public Task<WorkloadExit> Completion { get; }

        public string LogTail(int maxChars = 1200) => _log.Tail(maxChars);
        public string FullLog() => _log.Full();
        public LogChunk ReadLog(long offset, int maxChars) => _log.ReadFrom(offset, maxChars);

        private DockerClient Client => _launcher._client;

        private async Task PumpLogsAsync(CancellationToken cancellationToken)
        {
            try
            {
                using var stream = await Client.Containers.GetContainerLogsAsync(Id, tty: false, new ContainerLogsParameters
                {
                    Follow = true,
                    ShowStdout = true,
                    ShowStderr = true,
                }, cancellationToken).ConfigureAwait(false);
                var buffer = new byte[16 * 1024];
                var decoder = Encoding.UTF8.GetDecoder();
                var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
                while (true)
                {
                    var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, cancellationToken).ConfigureAwait(false);
                    if (read.EOF)
                    {
                        break;
                    }
                    var count = decoder.GetChars(buffer, 0, read.Count, chars, 0);
                    _log.Append(new string(chars, 0, count));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or DockerApiException or IOException or HttpRequestException)
            {
                // The container is gone or we stopped following; what was read stays.
            }
        }

        private async Task<WorkloadExit> MonitorAsync()
        {
            using var timeout = new CancellationTokenSource();
            if (_spec.Timeout is { } limit)
            {
                timeout.CancelAfter(limit);
            }
            long code;
            try
            {
                code = (await Client.Containers.WaitContainerAsync(Id, timeout.Token).ConfigureAwait(false)).StatusCode;
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                if (Interlocked.CompareExchange(ref _ending, TimedOut, Running) == Running)
                {
                    _log.Append($"\n[routeiq] timed out after {FormatLimit(_spec.Timeout)}; container killed\n");
                }
                await KillAsync().ConfigureAwait(false);
                code = (await Client.Containers.WaitContainerAsync(Id, CancellationToken.None).ConfigureAwait(false)).StatusCode;
            }
            catch (DockerContainerNotFoundException)
            {
                // Removed underneath us (e.g. orphan cleanup by another runner instance).
                code = 137;
            }

            // The log stream ends when the container stops; give it a moment to flush.
            await Task.WhenAny(_logPump, Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
            return Volatile.Read(ref _ending) switch
            {
                TimedOut => new WorkloadExit(WorkloadExit.TimeoutExitCode, TimedOut: true, Stopped: false),
                Stopped => new WorkloadExit((int)code, TimedOut: false, Stopped: true),
                _ => new WorkloadExit((int)code, TimedOut: false, Stopped: false),
            };

            static string FormatLimit(TimeSpan? t) => t is { } v ? v.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s" : "";
        }

        private async Task KillAsync()
        {
            try
            {
                await Client.Containers.KillContainerAsync(Id, new ContainerKillParameters { Signal = "SIGKILL" }).ConfigureAwait(false);
            }
            catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException)
            {
                // Not running any more (409) or gone (404).
            }
        }

        public async Task StopAsync(TimeSpan grace, CancellationToken cancellationToken = default)
        {
            if (Completion.IsCompleted)
            {
                return;
            }
            Interlocked.CompareExchange(ref _ending, Stopped, Running);
            try
            {
                await Client.Containers.StopContainerAsync(Id, new ContainerStopParameters
                {
                    WaitBeforeKillSeconds = (uint)Math.Max(0, Math.Ceiling(grace.TotalSeconds)),
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (DockerApiException)
            {
                await KillAsync().ConfigureAwait(false);
            }
            await Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
            {
                return;
            }
            if (!Completion.IsCompleted)
            {
                Interlocked.CompareExchange(ref _ending, Stopped, Running);
                await KillAsync().ConfigureAwait(false);
            }
            await _launcher.RemoveAsync(Id).ConfigureAwait(false);
            await _logs.CancelAsync().ConfigureAwait(false);
            try
            {
                await Completion.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is TimeoutException or DockerApiException or HttpRequestException or IOException)
            {
                // Removed (or the engine is unreachable, and Completion reported it); nothing more to wait for.
            }
            _logs.Dispose();
        }
    }
}
