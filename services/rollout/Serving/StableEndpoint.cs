using Microsoft.Extensions.Options;
using RouteIQ.Rollout.Edge;

namespace RouteIQ.Rollout.Serving;

/// <summary>
/// Rollout's routing table for the stable endpoint. A change is made here (one atomic swap) and,
/// when the endpoint runs as its own process, counts as done only once that process has it in
/// effect — so a roll never retires the old server while the endpoint may still send to it.
/// </summary>
public sealed class StableRouteTable
{
    /// <summary>The table itself; the in-process endpoint reads it directly.</summary>
    internal StableRoutes Local { get; } = new();

    /// <summary>Pushes <see cref="Local"/> to the edge process and waits for it to apply (set by the host in process mode).</summary>
    internal Func<CancellationToken, Task>? Sync { get; set; }

    public ServerRoute? Find(string? model) => Local.Find(model);

    /// <summary>The numbers of <paramref name="model"/>'s current traffic split (the edge process's latest report in process mode).</summary>
    public SplitStatsReport? SplitStats(string model) => Local.SplitStats(model, reported: Sync is not null);

    /// <summary>Points <paramref name="route"/>'s model at its server in one atomic swap.</summary>
    public Task SetAsync(ServerRoute route, bool makeDefault, CancellationToken cancellationToken)
    {
        Local.Set(route, makeDefault);
        return SyncAsync(cancellationToken);
    }

    public Task SetDefaultAsync(string model, CancellationToken cancellationToken)
    {
        Local.SetDefault(model);
        return SyncAsync(cancellationToken);
    }

    public Task RemoveAsync(string model, CancellationToken cancellationToken)
    {
        Local.Remove(model);
        return SyncAsync(cancellationToken);
    }

    private Task SyncAsync(CancellationToken cancellationToken) => Sync?.Invoke(cancellationToken) ?? Task.CompletedTask;
}

/// <summary>How the stable endpoint runs (<c>RouteIQ:Rollout:StableEndpointMode</c>).</summary>
public enum StableEndpointMode
{
    /// <summary>A process of its own started and supervised by rollout (<see cref="EdgeProcess"/>): the default.</summary>
    Process,

    /// <summary>A Kestrel server inside rollout's process.</summary>
    InProcess,
}

/// <summary>
/// Serves the stable endpoint on <c>RouteIQ:Rollout:PublicUrl</c> — by default as a process of
/// its own fed with <see cref="StableRouteTable"/> (<see cref="EdgeProcess"/>), or inside this
/// process (<see cref="StableEndpointMode.InProcess"/>) — with the same server either way
/// (<see cref="StableEndpointServer"/>: Kestrel and YARP's direct forwarder).
/// </summary>
public sealed class StableEndpointHost(
    StableRouteTable routes,
    IOptions<RolloutOptions> options,
    ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<StableEndpointHost>();
    private StableEndpointServer? _server;
    private EdgeProcess? _edge;

    /// <summary>The public URL while the endpoint is listening; null while it is down.</summary>
    public Uri? BoundAddress => _server is not null || _edge is { IsRunning: true } ? new Uri(options.Value.PublicUrl) : null;

    /// <summary>How it actually runs (process mode falls back to in-process where the edge is not deployed).</summary>
    public StableEndpointMode? Mode { get; private set; }

    /// <summary>The edge process's id in process mode (tests).</summary>
    internal int? EdgeProcessId => _edge?.ProcessId;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var url = new Uri(options.Value.PublicUrl);
        var mode = options.Value.StableEndpointMode;
        if (mode == StableEndpointMode.Process && !EdgeProcess.IsDeployed(out var reason))
        {
            _logger.LogWarning("The stable endpoint runs inside rollout: its process cannot be started here ({Reason})", reason);
            mode = StableEndpointMode.InProcess;
        }
        if (mode == StableEndpointMode.Process)
        {
            var edge = new EdgeProcess(routes.Local, url, ServiceDefaults.Extensions.MaxRequestBodyBytes,
                TimeSpan.FromSeconds(options.Value.StopGraceSeconds), options.Value.EdgeEnvironment, loggerFactory.CreateLogger<EdgeProcess>());
            routes.Sync = edge.SyncAsync;
            await edge.StartAsync(cancellationToken);
            _edge = edge;
        }
        else
        {
            var server = new StableEndpointServer(routes.Local, url, ServiceDefaults.Extensions.MaxRequestBodyBytes, loggerFactory);
            await server.StartAsync(cancellationToken);
            _server = server;
            _logger.LogInformation("Stable endpoint listening on {PublicUrl} (in process)", options.Value.PublicUrl);
        }
        Mode = mode;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_edge is not null)
        {
            await _edge.StopAsync(cancellationToken);
        }
        if (_server is not null)
        {
            await _server.StopAsync(cancellationToken);
        }
    }

    // Registered both as a singleton and as the hosted service: the container may dispose it twice.
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _edge, null) is { } edge)
        {
            await edge.DisposeAsync();
        }
        if (Interlocked.Exchange(ref _server, null) is { } server)
        {
            await server.DisposeAsync();
        }
    }
}
