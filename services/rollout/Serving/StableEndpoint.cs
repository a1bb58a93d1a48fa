using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace RouteIQ.Rollout.Serving;

/// <summary>Where one model's requests go right now.</summary>
public sealed class ServerRoute(string model, int version, string serverUrl)
{
    private long _firstForwardedTimestamp;

    public string Model { get; } = model;
    public int Version { get; } = version;
    public string ServerUrl { get; } = serverUrl.TrimEnd('/');

    /// <summary><see cref="Stopwatch"/> timestamp when the candidate answered its readiness probe (0 when adopted).</summary>
    public long HealthyTimestamp { get; init; }

    /// <summary><see cref="Stopwatch"/> timestamp of the first request forwarded to this route (0 until then).</summary>
    public long FirstForwardedTimestamp => Interlocked.Read(ref _firstForwardedTimestamp);

    /// <summary>Time from "candidate healthy" to the first request forwarded to it, once both happened.</summary>
    public TimeSpan? SwitchTime => HealthyTimestamp != 0 && FirstForwardedTimestamp != 0
        ? Stopwatch.GetElapsedTime(HealthyTimestamp, FirstForwardedTimestamp)
        : null;

    internal void MarkForwarded()
    {
        if (Interlocked.Read(ref _firstForwardedTimestamp) == 0)
        {
            Interlocked.CompareExchange(ref _firstForwardedTimestamp, Stopwatch.GetTimestamp(), 0);
        }
    }
}

/// <summary>
/// The routing table of the stable endpoint. Each change builds a new immutable table and
/// swaps one reference, so a request sees either the old or the new server, never a mix,
/// and a switch costs no lock on the request path.
/// </summary>
public sealed class StableRouteTable
{
    private sealed record Table(ImmutableDictionary<string, ServerRoute> Routes, string? DefaultModel);

    private Table _table = new(ImmutableDictionary.Create<string, ServerRoute>(StringComparer.Ordinal), null);
    private readonly Lock _writeLock = new();

    public ServerRoute? Find(string? model)
    {
        var table = Volatile.Read(ref _table);
        var name = model ?? table.DefaultModel;
        return name is not null && table.Routes.TryGetValue(name, out var route) ? route : null;
    }

    public bool Knows(string model) => Volatile.Read(ref _table).Routes.ContainsKey(model);

    public string? DefaultModel => Volatile.Read(ref _table).DefaultModel;

    public IReadOnlyCollection<ServerRoute> All => Volatile.Read(ref _table).Routes.Values.ToList();

    /// <summary>Points <paramref name="route"/>'s model at its server in one atomic swap.</summary>
    public void Set(ServerRoute route, bool makeDefault)
    {
        lock (_writeLock)
        {
            var current = _table;
            Volatile.Write(ref _table, new Table(current.Routes.SetItem(route.Model, route),
                makeDefault || current.DefaultModel is null ? route.Model : current.DefaultModel));
        }
    }

    public void SetDefault(string model)
    {
        lock (_writeLock)
        {
            Volatile.Write(ref _table, _table with { DefaultModel = model });
        }
    }

    public void Remove(string model)
    {
        lock (_writeLock)
        {
            var current = _table;
            Volatile.Write(ref _table, new Table(current.Routes.Remove(model), current.DefaultModel));
        }
    }
}

/// <summary>
/// The stable endpoint: its own Kestrel server on <c>RouteIQ:Rollout:PublicUrl</c> forwarding
/// <c>/{model}/invocations</c> and <c>/{model}/ping</c> (and <c>/invocations</c>, <c>/ping</c>
/// for the default model) to the active server with YARP's direct forwarder over pooled
/// connections.
/// </summary>
public sealed class StableEndpointHost(
    StableRouteTable routes,
    IHttpForwarder forwarder,
    IOptions<RolloutOptions> options,
    ILoggerFactory loggerFactory) : IHostedService, IAsyncDisposable
{
    private static readonly string[] Actions = ["invocations", "ping"];
    private readonly ILogger _logger = loggerFactory.CreateLogger<StableEndpointHost>();
    private readonly HttpMessageInvoker _client = CreateClient();
    // Servers are plain http:// on loopback: HTTP/1.1 straight away, no upgrade attempt.
    private static readonly ForwarderRequestConfig RequestConfig = new()
    {
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };

    private readonly Dictionary<string, PathTransformer> _transformers = Actions.ToDictionary(a => a, a => new PathTransformer("/" + a));
    private WebApplication? _app;

    public Uri? BoundAddress { get; private set; }

    public static HttpMessageInvoker CreateClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
        EnableMultipleHttp2Connections = true,
        ActivityHeadersPropagator = null,
    });

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var url = new Uri(options.Value.PublicUrl);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddLogging();
        builder.Services.AddSingleton(loggerFactory);
        // The handler never blocks (parse the path, one lookup, the forwarder's async send), so
        // Kestrel may run it on the socket's I/O thread instead of hopping to the thread pool:
        // one context switch less per request on the hot path.
        builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = ServiceDefaults.Extensions.MaxRequestBodyBytes;
            // Plain-text HTTP/2 needs prior knowledge; model clients speak HTTP/1.1 with keep-alive.
            var listen = (Action<ListenOptions>)(o => o.Protocols = HttpProtocols.Http1);
            switch (url.Host)
            {
                case "localhost":
                    kestrel.ListenLocalhost(url.Port, listen);
                    break;
                case "0.0.0.0" or "*" or "+" or "[::]":
                    kestrel.ListenAnyIP(url.Port, listen);
                    break;
                default:
                    kestrel.Listen(IPAddress.Parse(url.Host.Trim('[', ']')), url.Port, listen);
                    break;
            }
        });
        var app = builder.Build();
        app.Run(HandleAsync);
        await app.StartAsync(cancellationToken);
        _app = app;
        BoundAddress = url;
        _logger.LogInformation("Stable endpoint listening on {PublicUrl}", options.Value.PublicUrl);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        string? model = null;
        string action;
        var slash = path.IndexOf('/', 1);
        if (slash < 0)
        {
            action = path[1..];
        }
        else
        {
            model = Uri.UnescapeDataString(path[1..slash]);
            action = path[(slash + 1)..];
        }
        if (!_transformers.TryGetValue(action, out var transformer))
        {
            await WriteErrorAsync(context, StatusCodes.Status404NotFound, "not found: use /{model}/invocations, /{model}/ping, /invocations or /ping");
            return;
        }
        var route = routes.Find(model);
        if (route is null)
        {
            await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable,
                model is null ? "no model is deployed" : $"model '{model}' has no active deployment");
            return;
        }
        route.MarkForwarded();
        var error = await forwarder.SendAsync(context, route.ServerUrl, _client, RequestConfig, transformer);
        if (error != ForwarderError.None && error != ForwarderError.RequestCanceled)
        {
            _logger.LogWarning("Forwarding {Path} to {Model} v{Version} at {ServerUrl} failed: {Error}", path, route.Model, route.Version, route.ServerUrl, error);
        }
    }

    private static Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new { error = message });
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
        _client.Dispose();
    }

    /// <summary>Sends <c>/{model}/{action}</c> to the server's <c>/{action}</c>, keeping the query.</summary>
    private sealed class PathTransformer(string serverPath) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, serverPath, httpContext.Request.QueryString);
        }
    }
}
