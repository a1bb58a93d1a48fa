using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RouteIQ.Contracts;

namespace RouteIQ.Workloads;

/// <summary>
/// Runs workloads as local processes: the spec's <c>Command</c> (argv), or a built-in image
/// name mapped to the project's own workload dll. Each process starts from a minimal clean
/// environment plus the spec's, in its own process group (so the whole tree is signalled), and
/// is recorded in a state file so a restarted runner can remove what a killed one left behind.
/// </summary>
public sealed class ProcessWorkloadLauncher : IWorkloadLauncher
{
    /// <summary>Built-in image names (without tag) and the dll each maps to.</summary>
    public static readonly IReadOnlyDictionary<string, string> BuiltInDlls = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["routeiq/router-trainer"] = "RouteIQ.RouterTrainer.dll",
        ["routeiq/router-server"] = "RouteIQ.RouterServer.dll",
    };

    /// <summary>Variables of the runner's own environment a workload inherits; nothing else leaks (no credentials).</summary>
    public static readonly IReadOnlyList<string> InheritedVariables =
    [
        "PATH", "HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR",
        "DOTNET_ROOT", "DOTNET_ROOT_X64", "DOTNET_ROOT_ARM64", "DOTNET_CLI_HOME", "DOTNET_NOLOGO",
        "DOTNET_CLI_TELEMETRY_OPTOUT", "DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "NUGET_PACKAGES",
    ];

    private readonly WorkloadsOptions _options;
    private readonly ILogger<ProcessWorkloadLauncher> _logger;
    private readonly TimeProvider _time;
    private readonly ProcessStateStore _state;

    public ProcessWorkloadLauncher(IOptions<WorkloadsOptions> options, ILogger<ProcessWorkloadLauncher> logger, TimeProvider time)
    {
        _options = options.Value;
        _logger = logger;
        _time = time;
        _state = new ProcessStateStore(_options.StateDirectory
            ?? throw new ArgumentException("RouteIQ:Workloads:StateDirectory must be resolved", nameof(options)));
    }

    public string Kind => "process";

    public Task<IWorkload> StartAsync(WorkloadSpec spec, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var environment = BuildEnvironment(spec);
        var (program, arguments) = ResolveCommand(spec);

        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        // setsid execs the program in a new session and process group whose id is the pid we
        // get back, so signals to -pid reach every child it spawns. The shell in between only
        // joins stderr to stdout (one pipe keeps the log in the order it was written) and execs
        // the program, keeping that pid.
        var ownGroup = PosixProcesses.Setsid is not null && File.Exists("/bin/sh");
        if (ownGroup)
        {
            psi.FileName = PosixProcesses.Setsid!;
            psi.ArgumentList.Add("/bin/sh");
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("exec \"$0\" \"$@\" 2>&1");
            psi.ArgumentList.Add(program);
        }
        else
        {
            psi.FileName = program;
        }
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }
        psi.Environment.Clear();
        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }
        if (spec.OutputDirectory is { } output)
        {
            psi.WorkingDirectory = output;
        }

        var log = new WorkloadLog(_options.MaxLogChars);
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.AppendLine(e.Data); };
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.Exited += (_, _) => exited.TrySetResult();
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            process.Dispose();
            throw new WorkloadLaunchException($"workload {spec.Name}: cannot start '{program}': {e.Message}", e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var pid = process.Id;
        _state.Save(new ProcessStateStore.Entry
        {
            Name = spec.Name,
            Pid = pid,
            StartTime = PosixProcesses.StartTime(pid) ?? 0,
            OwnGroup = ownGroup,
            Labels = new Dictionary<string, string>(spec.Labels),
            StartedAt = _time.GetUtcNow(),
        });
        _logger.LogInformation("Workload {Workload} started as process {Pid}: {Program}", spec.Name, pid, program);

        IWorkload workload = new ProcessWorkload(spec, process, exited.Task, ownGroup, log, _state, _logger);
        return Task.FromResult(workload);
    }

    public Task<IReadOnlyList<string>> RemoveOrphansAsync(string node, IReadOnlySet<Guid> liveJobIds, CancellationToken cancellationToken = default)
    {
        var removed = new List<string>();
        foreach (var entry in _state.ReadAll())
        {
            if (!entry.Labels.TryGetValue(WorkloadLabels.Node, out var entryNode) || entryNode != node
                || !entry.Labels.TryGetValue(WorkloadLabels.JobId, out var jobText) || !Guid.TryParse(jobText, out var jobId)
                || liveJobIds.Contains(jobId))
            {
                continue;
            }
            var alive = PosixProcesses.StartTime(entry.Pid) is { } startTime && (entry.StartTime == 0 || startTime == entry.StartTime);
            if (alive)
            {
                Kill(entry.Pid, entry.OwnGroup);
            }
            else if (entry.OwnGroup && PosixProcesses.StartTime(entry.Pid) is null)
            {
                // The leader is gone but children may live on in its group; a group id cannot be
                // reused while the group has members, so signalling it cannot hit a stranger.
                alive = PosixProcesses.SignalGroup(entry.Pid, PosixProcesses.SigKill);
            }
            if (alive)
            {
                removed.Add(entry.Name);
                _logger.LogWarning("Removed orphan workload {Workload} (process {Pid}) of job {JobId}", entry.Name, entry.Pid, jobId);
            }
            _state.Delete(entry.Name);
        }
        return Task.FromResult<IReadOnlyList<string>>(removed);
    }

    internal static void Kill(int pid, bool ownGroup)
    {
        if (ownGroup)
        {
            PosixProcesses.SignalGroup(pid, PosixProcesses.SigKill);
        }
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    private static Dictionary<string, string> BuildEnvironment(WorkloadSpec spec)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in InheritedVariables)
        {
            if (System.Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
            {
                environment[name] = value;
            }
        }
        foreach (var (key, value) in spec.Environment)
        {
            environment[key] = value;
        }
        if (spec.OutputDirectory is { } output)
        {
            Directory.CreateDirectory(output);
            environment[WorkloadLabels.OutputDirVariable] = Path.GetFullPath(output);
        }
        return environment;
    }

    private (string Program, IReadOnlyList<string> Arguments) ResolveCommand(WorkloadSpec spec)
    {
        if (spec.Command is { Count: > 0 } command)
        {
            if (string.IsNullOrWhiteSpace(command[0]))
            {
                throw new WorkloadLaunchException($"workload {spec.Name}: command[0] is empty");
            }
            // The runner's own PATH, never the workload's: a PATH in the job's environment must not
            // decide which program a relative command runs.
            var program = FindProgram(command[0], System.Environment.GetEnvironmentVariable("PATH"))
                ?? throw new WorkloadLaunchException($"workload {spec.Name}: command '{command[0]}' not found");
            return (program, command.Skip(1).ToList());
        }

        var image = StripTag(spec.Image);
        if (!BuiltInDlls.TryGetValue(image, out var dll))
        {
            throw new WorkloadLaunchException(
                $"workload {spec.Name}: image '{spec.Image}' is not a built-in workload ({string.Join(", ", BuiltInDlls.Keys)}) and no command was given; the process launcher needs a command");
        }
        var directory = _options.BuiltIns.GetValueOrDefault(image) ?? AppContext.BaseDirectory;
        var path = Path.GetFullPath(Path.Combine(directory, dll));
        if (!File.Exists(path))
        {
            throw new WorkloadLaunchException($"workload {spec.Name}: built-in '{image}' not found at {path} (set RouteIQ:Workloads:BuiltIns:{image})");
        }
        var dotnet = DotnetHost() ?? throw new WorkloadLaunchException($"workload {spec.Name}: the dotnet host was not found");
        return (dotnet, [path]);
    }

    private static string StripTag(string image)
    {
        var colon = image.LastIndexOf(':');
        return colon > image.LastIndexOf('/') ? image[..colon] : image;
    }

    private static string? DotnetHost()
    {
        var name = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (System.Environment.ProcessPath is { } self && Path.GetFileName(self) == name)
        {
            return self;
        }
        if (System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
        {
            return host;
        }
        if (System.Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root && File.Exists(Path.Combine(root, name)))
        {
            return Path.Combine(root, name);
        }
        return FindProgram(name, System.Environment.GetEnvironmentVariable("PATH"));
    }

    private static string? FindProgram(string program, string? searchPath)
    {
        if (program.Contains('/') || program.Contains(Path.DirectorySeparatorChar))
        {
            return File.Exists(program) ? Path.GetFullPath(program) : null;
        }
        foreach (var directory in (searchPath ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private sealed class ProcessWorkload : IWorkload
    {
        private const int Running = 0, TimedOut = 1, Stopped = 2;
        private readonly WorkloadSpec _spec;
        private readonly Process _process;
        private readonly bool _ownGroup;
        private readonly WorkloadLog _log;
        private readonly ProcessStateStore _state;
        private readonly ILogger _logger;
        private readonly CancellationTokenSource _timeout = new();
        private int _ending = Running;
        private int _disposed;

        public ProcessWorkload(WorkloadSpec spec, Process process, Task exited, bool ownGroup, WorkloadLog log,
            ProcessStateStore state, ILogger logger)
        {
            _spec = spec;
            _process = process;
            _ownGroup = ownGroup;
            _log = log;
            _state = state;
            _logger = logger;
            Id = process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Completion = MonitorAsync(exited);
        }

        public string Name => _spec.Name;
        public string Id { get; }
        public Task<WorkloadExit> Completion { get; }

        public string LogTail(int maxChars = 1200) => _log.Tail(maxChars);
        public string FullLog() => _log.Full();
        public LogChunk ReadLog(long offset, int maxChars) => _log.ReadFrom(offset, maxChars);

        private async Task<WorkloadExit> MonitorAsync(Task exited)
        {
            var registration = default(CancellationTokenRegistration);
            if (_spec.Timeout is { } timeout)
            {
                registration = _timeout.Token.Register(() =>
                {
                    if (Interlocked.CompareExchange(ref _ending, TimedOut, Running) == Running)
                    {
                        _logger.LogWarning("Workload {Workload} ran past its timeout of {Timeout}; killing it", _spec.Name, timeout);
                        KillAll();
                    }
                });
                _timeout.CancelAfter(timeout);
            }
            await exited.ConfigureAwait(false);
            await registration.DisposeAsync().ConfigureAwait(false);

            // The leader is gone: whatever it left running in its group goes with it.
            if (_ownGroup)
            {
                PosixProcesses.SignalGroup(_process.Id, PosixProcesses.SigKill);
            }
            try
            {
                // Drain the redirected output (EOF once every holder of the pipes is gone).
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _log.AppendLine("[routeiq] output still open 5 s after exit; stopped reading");
            }
            var code = _process.ExitCode;
            return Volatile.Read(ref _ending) switch
            {
                TimedOut => new WorkloadExit(WorkloadExit.TimeoutExitCode, TimedOut: true, Stopped: false),
                Stopped => new WorkloadExit(code, TimedOut: false, Stopped: true),
                _ => new WorkloadExit(code, TimedOut: false, Stopped: false),
            };
        }

        public async Task StopAsync(TimeSpan grace, CancellationToken cancellationToken = default)
        {
            if (Completion.IsCompleted)
            {
                return;
            }
            Interlocked.CompareExchange(ref _ending, Stopped, Running);
            if (_ownGroup)
            {
                PosixProcesses.SignalGroup(_process.Id, PosixProcesses.SigTerm);
            }
            else
            {
                PosixProcesses.Signal(_process.Id, PosixProcesses.SigTerm);
            }
            try
            {
                await Completion.WaitAsync(grace, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                KillAll();
                await Completion.ConfigureAwait(false);
            }
        }

        private void KillAll()
        {
            if (_ownGroup)
            {
                PosixProcesses.SignalGroup(_process.Id, PosixProcesses.SigKill);
            }
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already exited.
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1)
            {
                return;
            }
            if (!Completion.IsCompleted)
            {
                await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            _state.Delete(_spec.Name);
            _timeout.Dispose();
            _process.Dispose();
        }
    }
}
