using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Yarp.ReverseProxy.Forwarder;

namespace RouteIQ.Rollout.Edge;

/// <summary>
/// The stable endpoint: a Kestrel server forwarding <c>/{model}/invocations</c> and
/// <c>/{model}/ping</c> (and <c>/invocations</c>, <c>/ping</c> for the default model) to the
/// active server of the model with YARP's direct forwarder over pooled connections.
/// </summary>
public sealed class StableEndpointServer : IAsyncDisposable
{
    private static readonly string[] Actions = ["invocations", "ping"];
    // Servers are plain http:// on loopback: HTTP/1.1 straight away, no upgrade attempt.
    private static readonly ForwarderRequestConfig RequestConfig = new()
    {
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };

    private readonly StableRoutes _routes;
    private readonly Uri _url;
    private readonly long _maxRequestBodyBytes;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly Action<ServerRoute>? _firstForward;
    private readonly HttpMessageInvoker _client = CreateClient();
    private readonly Dictionary<string, PathTransformer> _transformers = Actions.ToDictionary(a => a, a => new PathTransformer("/" + a));
    private IHttpForwarder? _forwarder;
    private SplitForwarder _splits = null!;
    private WebApplication? _app;

    /// <param name="firstForward">Called once per route, on the request thread, when the first request is forwarded to it.</param>
    public StableEndpointServer(StableRoutes routes, Uri url, long maxRequestBodyBytes, ILoggerFactory loggerFactory, Action<ServerRoute>? firstForward = null)
    {
        _routes = routes;
        _url = url;
        _maxRequestBodyBytes = maxRequestBodyBytes;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<StableEndpointServer>();
        _firstForward = firstForward;
    }

    public static HttpMessageInvoker CreateClient() => new(new OneWriteRequestHandler(new SocketsHttpHandler
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
        EnableMultipleHttp2Connections = true,
        ActivityHeadersPropagator = null,
    }));

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.Services.AddSingleton(_loggerFactory);
        builder.Services.AddLogging();
        builder.Services.AddHttpForwarder();
        // The handler never blocks (parse the path, one lookup, the forwarder's async send), so
        // Kestrel may run it on the socket's I/O thread instead of hopping to the thread pool.
        builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = _maxRequestBodyBytes;
            // Plain-text HTTP/2 needs prior knowledge; model clients speak HTTP/1.1 with keep-alive.
            var listen = (Action<ListenOptions>)(o => o.Protocols = HttpProtocols.Http1);
            switch (_url.Host)
            {
                case "localhost":
                    kestrel.ListenLocalhost(_url.Port, listen);
                    break;
                case "0.0.0.0" or "*" or "+" or "[::]":
                    kestrel.ListenAnyIP(_url.Port, listen);
                    break;
                default:
                    kestrel.Listen(IPAddress.Parse(_url.Host.Trim('[', ']')), _url.Port, listen);
                    break;
            }
        });
        var app = builder.Build();
        _forwarder = app.Services.GetRequiredService<IHttpForwarder>();
        _splits = new SplitForwarder(_forwarder, _client, RequestConfig, _logger);
        app.Run(HandleAsync);
        await app.StartAsync(cancellationToken);
        _app = app;
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
        var route = _routes.Find(model);
        if (route is null)
        {
            await WriteErrorAsync(context, StatusCodes.Status503ServiceUnavailable,
                model is null ? "no model is deployed" : $"model '{model}' has no active deployment");
            return;
        }
        if (route.FirstForwardedTimestamp == 0 && route.MarkForwarded(Stopwatch.GetTimestamp()))
        {
            _firstForward?.Invoke(route);
        }
        if (route.Split is { } split)
        {
            await _splits.HandleAsync(context, route, split, action, transformer);
            return;
        }
        context.Response.Headers[SplitForwarder.VersionHeader] = route.VersionText;
        var error = await _forwarder!.SendAsync(context, route.ServerUrl, _client, RequestConfig, transformer);
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

    /// <summary>Stops taking connections and lets in-flight requests finish within <paramref name="cancellationToken"/>.</summary>
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
            _app = null;
        }
        if (_splits is not null)
        {
            await _splits.DisposeAsync();
        }
        _client.Dispose();
    }

    /// <summary>Sends <c>/{model}/{action}</c> to the server's <c>/{action}</c>, keeping the query.</summary>
    internal sealed class PathTransformer(string serverPath) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, serverPath, httpContext.Request.QueryString);
        }

        public string ServerPath => serverPath;
    }

    /// <summary>
    /// Sends a small request whose length is declared (every model invocation) in one write.
    /// YARP's request content flushes the headers on their own before it copies the body, so each
    /// <c>POST /invocations</c> would reach the server as two segments — one more send here and
    /// one more wake-up of the server per request. This handler, between the forwarder and the
    /// connection pool, lets YARP's content copy the body into a buffer first (so YARP still sees
    /// its body copy finish, with its own error reporting for a client that goes away mid-body) and
    /// sends headers and body as bytes. Larger, chunked or <c>Expect: 100-continue</c> requests stream
    /// untouched.
    /// </summary>
    internal sealed class OneWriteRequestHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        /// <summary>Bodies up to this size are buffered; bigger ones stream.</summary>
        internal const int BufferedBodyLimit = 64 * 1024;

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is { } streamed and not ByteArrayContent
                && streamed.Headers.ContentLength is > 0 and <= BufferedBodyLimit and var length
                && request.Headers.ExpectContinue != true)
            {
                var body = new byte[length];
                // A fixed-size stream: a body longer than declared fails the copy instead of growing.
                using (var buffer = new MemoryStream(body, writable: true))
                {
                    await streamed.CopyToAsync(buffer, cancellationToken);
                    if (buffer.Position != length)
                    {
                        throw new IOException($"the request body ended after {buffer.Position} of {length} declared bytes");
                    }
                }
                var content = new ByteArrayContent(body);
                foreach (var header in streamed.Headers)
                {
                    content.Headers.TryAddWithoutValidation(header.Key, header.Value);
                }
                request.Content = content;
            }
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
