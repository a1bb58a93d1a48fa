using System.Diagnostics;
using System.Runtime.InteropServices;
using RouteIQ.Rollout.Edge;

namespace RouteIQ.Rollout.Serving;

/// <summary>
/// Runs the stable endpoint as a process of its own (<c>RouteIQ.Rollout.Edge</c>) and keeps it in
/// step with <see cref="StableRouteTable"/>: every change is sent as a whole table over the
/// edge's stdin and counts as applied only when the edge acknowledges it. The edge's process is
/// tuned for the hot path — socket completions run inline on its I/O threads (no thread-pool hop
/// per request and per upstream response), workstation GC — which rollout's own process (bus,
/// database, probes) cannot be. The edge exits when its stdin closes, so rollout dying, even
/// killed, leaves no edge holding the public port; an edge that dies is restarted and given the
/// table again.
/// </summary>
internal sealed class EdgeProcess(StableRoutes routes, Uri publicUrl, long maxRequestBodyBytes, TimeSpan drainGrace,
    IReadOnlyDictionary<string, string> environment, ILogger logger) : IAsyncDisposable
{
    private static readonly TimeSpan AckTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan SyncTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _sendGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private volatile Instance? _current;
    private long _seq;
    private Task? _supervisor;

    /// <summary>Set while an edge process is listening.</summary>
    public bool IsRunning => _current is { HasExited: false };

    /// <summary>Process id of the running edge (tests).</summary>
    public int? ProcessId => _current?.Process.Id;

    /// <summary>Whether the edge can be started from here (its assembly and runtimeconfig are deployed beside rollout).</summary>
    public static bool IsDeployed(out string reason)
    {
        var dll = typeof(StableEndpointServer).Assembly.Location;
        var config = Path.ChangeExtension(dll, ".runtimeconfig.json");
        reason = string.IsNullOrEmpty(dll) ? "the edge assembly has no file (single-file publish)"
            : !File.Exists(config) ? $"{config} is missing"
            : DotnetHost() is null ? "the dotnet host was not found"
            : "";
        return reason.Length == 0;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // A predecessor that is still draining (rollout restarted quickly) may hold the port for a few seconds.
        _current = await LaunchWithRetryAsync(StartTimeout, cancellationToken);
        await SyncAsync(cancellationToken);
        _supervisor = SuperviseAsync();
    }

    /// <summary>Sends the current table and waits until the edge has it in effect.</summary>
    public async Task SyncAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(SyncTimeout);
        await _sendGate.WaitAsync(timeout.Token);
        try
        {
            while (true)
            {
                var edge = _current;
                if (edge is null || edge.HasExited)
                {
                    // The supervisor is starting a new one; it gets the table as soon as it is up.
                    await Task.Delay(50, timeout.Token);
                    continue;
                }
                var seq = ++_seq;
                var (current, defaultModel) = routes.Snapshot();
                var table = new RouteTableMessage(seq, defaultModel, current.Select(EdgeProtocol.ToEntry).ToList());
                if (await edge.SendAsync(EdgeProtocol.Serialize(table), seq, AckTimeout, timeout.Token))
                {
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException($"the stable endpoint process did not take the route table within {SyncTimeout.TotalSeconds:0} s");
        }
        finally
        {
            _sendGate.Release();
        }
    }

    private async Task SuperviseAsync()
    {
        var delay = TimeSpan.FromMilliseconds(200);
        while (!_stopping.IsCancellationRequested)
        {
            var edge = _current!;
            try
            {
                await edge.Exited.WaitAsync(_stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            logger.LogError("The stable endpoint process (pid {Pid}) exited with code {ExitCode}; starting a new one", edge.Process.Id, edge.ExitCode);
            while (!_stopping.IsCancellationRequested)
            {
                try
                {
                    _current = await LaunchWithRetryAsync(StartTimeout, _stopping.Token);
                    await SyncAsync(_stopping.Token);
                    delay = TimeSpan.FromMilliseconds(200);
                    break;
                }
                catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    logger.LogError("Restarting the stable endpoint process failed: {Error}; retrying in {Delay} ms", ex.Message, (int)delay.TotalMilliseconds);
                    await Task.Delay(delay, _stopping.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                    delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
                }
            }
        }
    }

    private async Task<Instance> LaunchWithRetryAsync(TimeSpan within, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var edge = Instance.Start(publicUrl, maxRequestBodyBytes, drainGrace, environment, routes, logger);
            string? ready;
            try
            {
                ready = await edge.WaitReadyAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Stopping while it starts: it must not outlive this call.
                await edge.DisposeAsync();
                throw;
            }
            if (ready is null)
            {
                logger.LogInformation("Stable endpoint process (pid {Pid}) listening on {PublicUrl}", edge.Process.Id, publicUrl);
                return edge;
            }
            await edge.DisposeAsync();
            if (deadline.Elapsed > within)
            {
                throw new IOException($"the stable endpoint could not start: {ready}");
            }
            logger.LogWarning("The stable endpoint could not start ({Error}); retrying", ready);
            await Task.Delay(250, cancellationToken);
        }
    }

    /// <summary>Closes the edge's stdin: it stops taking connections, lets requests in flight finish, and exits.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        if (_supervisor is not null)
        {
            await _supervisor;
        }
        if (_current is { } edge)
        {
            await edge.StopAsync(drainGrace + TimeSpan.FromSeconds(5), cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _stopping.Cancel();
        if (_current is { } edge)
        {
            await edge.DisposeAsync();
        }
    }

    private int _disposed;

    /// <summary>The <c>dotnet</c> host that runs framework-dependent apps on this machine.</summary>
    internal static string? DotnetHost()
    {
        var exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }
        if (Environment.ProcessPath is { } self && Path.GetFileName(self) == exe)
        {
            return self;
        }
        // <root>/shared/Microsoft.NETCore.App/<version>/ → <root>/dotnet
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var candidate = Path.Combine(root, exe);
        return File.Exists(candidate) ? candidate : null;
    }

    /// <summary>
    /// The edge's whole environment: the few variables any process needs (PATH, HOME, locale,
    /// the dotnet root: the same the process launcher passes to workloads), its runtime tuning
    /// and <c>RouteIQ:Rollout:EdgeEnvironment</c>. Nothing else of rollout's environment (admin
    /// keys, signing keys, store and database credentials) reaches it.
    /// </summary>
    internal static Dictionary<string, string> ChildEnvironment(IReadOnlyDictionary<string, string> configured)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in Workloads.ProcessWorkloadLauncher.InheritedVariables)
        {
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
            {
                environment[name] = value;
            }
        }
        // The edge's whole request path may run on its socket I/O threads: nothing in it blocks.
        environment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1";
        environment["DOTNET_gcServer"] = "0";
        foreach (var (name, value) in configured)
        {
            environment[name] = value;
        }
        return environment;
    }

    /// <summary>One edge process: its stdin, its event stream, its exit.</summary>
    private sealed class Instance : IAsyncDisposable
    {
        private readonly TaskCompletionSource<string?> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly StableRoutes _routes;
        private readonly ILogger _logger;
        private TaskCompletionSource<bool>? _ack;
        private long _ackSeq;

        private Instance(Process process, StableRoutes routes, ILogger logger)
        {
            Process = process;
            _routes = routes;
            _logger = logger;
        }

        public Process Process { get; }
        public Task Exited => _exited.Task;
        public bool HasExited => _exited.Task.IsCompleted;
        public int? ExitCode => HasExited ? Process.ExitCode : null;

        public static Instance Start(Uri url, long maxBody, TimeSpan grace, IReadOnlyDictionary<string, string> environment, StableRoutes routes, ILogger logger)
        {
            var dll = typeof(StableEndpointServer).Assembly.Location;
            var start = new ProcessStartInfo(DotnetHost() ?? "dotnet")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[] { dll, "--url", url.ToString(), "--max-body", maxBody.ToString(System.Globalization.CultureInfo.InvariantCulture),
                         "--grace", grace.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            {
                start.ArgumentList.Add(arg);
            }
            start.Environment.Clear();
            foreach (var (name, value) in ChildEnvironment(environment))
            {
                start.Environment[name] = value;
            }
            var process = Process.Start(start) ?? throw new IOException("the stable endpoint process did not start");
            var instance = new Instance(process, routes, logger);
            _ = instance.ReadEventsAsync();
            _ = instance.RelayLogsAsync();
            return instance;
        }

        /// <returns>null once listening; otherwise why it could not start.</returns>
        public async Task<string?> WaitReadyAsync(CancellationToken cancellationToken)
        {
            try
            {
                return await _ready.Task.WaitAsync(StartTimeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                return $"not listening after {StartTimeout.TotalSeconds:0} s";
            }
        }

        public async Task<bool> SendAsync(string line, long seq, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var ack = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _ackSeq, seq);
            Volatile.Write(ref _ack, ack);
            try
            {
                await Process.StandardInput.WriteLineAsync(line.AsMemory(), cancellationToken);
                await Process.StandardInput.FlushAsync(cancellationToken);
                return await ack.Task.WaitAsync(timeout, cancellationToken);
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or TimeoutException)
            {
                return false;
            }
        }

        private async Task ReadEventsAsync()
        {
            try
            {
                while (await Process.StandardOutput.ReadLineAsync() is { } line)
                {
                    EdgeEvent? e;
                    try
                    {
                        e = EdgeProtocol.ReadEvent(line);
                    }
                    catch (System.Text.Json.JsonException)
                    {
                        _logger.LogInformation("stable endpoint: {Line}", line);
                        continue;
                    }
                    if (e?.Ready is not null)
                    {
                        _ready.TrySetResult(null);
                    }
                    else if (e?.Error is { } error)
                    {
                        _ready.TrySetResult(error);
                    }
                    else if (e?.Ack is { } seq && seq >= Volatile.Read(ref _ackSeq))
                    {
                        Volatile.Read(ref _ack)?.TrySetResult(true);
                    }
                    else if (e?.Stats is { } stats)
                    {
                        _routes.Reported[stats.Model] = stats;
                    }
                    else if (e?.Forwarded is { } f && _routes.Find(f.Model) is { } route
                             && route.Version == f.Version && route.ServerUrl == f.Url)
                    {
                        route.MarkForwarded(f.Timestamp);
                    }
                }
                await Process.WaitForExitAsync();
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
            {
            }
            finally
            {
                _ready.TrySetResult("exited before listening");
                Volatile.Read(ref _ack)?.TrySetResult(false);
                _exited.TrySetResult();
            }
        }

        private async Task RelayLogsAsync()
        {
            try
            {
                while (await Process.StandardError.ReadLineAsync() is { } line)
                {
                    var level = line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal) ? LogLevel.Error
                        : line.StartsWith("warn:", StringComparison.Ordinal) ? LogLevel.Warning
                        : LogLevel.Information;
                    _logger.Log(level, "stable endpoint: {Line}", line);
                }
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
            {
            }
        }

        public async Task StopAsync(TimeSpan within, CancellationToken cancellationToken)
        {
            try
            {
                Process.StandardInput.Close();
            }
            catch (IOException)
            {
            }
            try
            {
                await _exited.Task.WaitAsync(within, cancellationToken);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                Kill();
            }
        }

        private void Kill()
        {
            try
            {
                if (!Process.HasExited)
                {
                    Process.Kill(entireProcessTree: true);
                }
            }
            catch (InvalidOperationException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            Kill();
            try
            {
                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
            }
            Process.Dispose();
        }
    }
}
