using System.Net.Sockets;
using Microsoft.Extensions.Configuration.Memory;
using RouteIQ.GatewayAdmin;
using RouteIQ.Rollout;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest;
using RouteIQ.TrainerRunner;

namespace RouteIQ.Cli;

/// <summary>
/// All four services in one process on the embedded defaults (in-memory bus, SQLite, file
/// artifacts, local-process workloads). Configuration overrides any default: with
/// <c>ConnectionStrings__RabbitMq</c> set it uses RabbitMQ, with <c>ConnectionStrings__RouteIQ</c> PostgreSQL.
/// </summary>
public static class EmbeddedHost
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null, IReadOnlyDictionary<string, string?>? defaults = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        var initial = new Dictionary<string, string?>(defaults ?? new Dictionary<string, string?>())
        {
            ["RouteIQ:Workloads:Launcher"] = "Process",
            // One process owns everything it starts: router servers end with it.
            ["RouteIQ:Rollout:StopServersOnShutdown"] = "true",
        };
        // From a checkout's root (or anywhere inside it), `up` reads the same specs as `demo`:
        // deploy/trainer-specs, unless ./trainer-specs exists or the path is configured.
        if (!initial.ContainsKey(SpecsKey) && !Directory.Exists("trainer-specs") && FindSpecs() is { } specs)
        {
            initial[SpecsKey] = specs;
        }
        // Embedded defaults sit below every other source, so configuration still overrides them.
        ((IConfigurationBuilder)builder.Configuration).Sources.Insert(0, new MemoryConfigurationSource { InitialData = initial });
        // A failed start is reported in one line by StartAsync; the host's own error logs of it
        // (hundreds of lines of bind traces) are held back until the host has started.
        var gate = new StartupLogGate();
        // This rule has no category, like Logging:LogLevel:Default, and being added last it replaces that one: so it
        // applies the configured default level itself (category-specific levels still win over it).
        var configuration = builder.Configuration;
        var defaultLevel = new Lazy<LogLevel>(() =>
            Enum.TryParse<LogLevel>(configuration["Logging:LogLevel:Default"], ignoreCase: true, out var configured) ? configured : LogLevel.Information);
        builder.Logging.AddFilter((_, level) => level >= defaultLevel.Value && gate.Allows(level));
        builder.UseDefaultUrls(DefaultUrl);
        RequireKeysOffLoopback(builder.Configuration);
        builder.AddServiceDefaults("embedded");
        configure?.Invoke(builder);
        builder.AddGatewayAdmin();
        builder.AddTrainerRunner();
        builder.AddRollout();
        builder.AddTelemetryIngest();
        builder.AddRouteIQBus();

        var app = builder.Build();
        app.Lifetime.ApplicationStarted.Register(gate.Open);
        app.MapDefaultEndpoints();
        app.MapGatewayAdminApi();
        app.MapTrainerRunnerApi();
        app.MapRolloutApi();
        app.MapTelemetryIngestApi();
        return app;
    }

    public const string SpecsKey = "RouteIQ:Specs:Path";

    /// <summary>The trainer spec path the host reads (configured, else <c>./trainer-specs</c>), as a full path.</summary>
    public static string SpecsPath(IConfiguration config)
        => Path.GetFullPath(config[SpecsKey] ?? config["SPECS_PATH"] ?? "./trainer-specs");

    /// <summary>deploy/trainer-specs of the checkout this runs from (the working directory's, else the CLI's).</summary>
    public static string? FindSpecs()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "deploy", "trainer-specs");
                if (File.Exists(Path.Combine(candidate, "knn-router.yaml")))
                {
                    return candidate;
                }
            }
        }
        return null;
    }

    /// <summary>
    /// Builds and starts the host; a start that fails on configuration, a busy port or a refused
    /// binding is one line on stderr and exit code 2 (app null).
    /// </summary>
    public static async Task<(WebApplication? App, int Code)> StartAsync(string[] args, IReadOnlyDictionary<string, string?>? defaults, CancellationToken cancellationToken)
    {
        WebApplication? app = null;
        string? message;
        try
        {
            // Checked on the configuration alone, before any service is built or logs a line.
            var preflight = new ConfigurationBuilder().AddInMemoryCollection(defaults ?? new Dictionary<string, string?>())
                .AddEnvironmentVariables().AddCommandLine(args).Build();
            RequireKeysOffLoopback(preflight);
            RequireFreePorts(preflight);
            app = Build(args, defaults: defaults);
            await app.StartAsync(cancellationToken);
            return (app, ExitCodes.Ok);
        }
        catch (Exception ex) when (RouteIQHost.FindConfigurationError(ex) is { } config)
        {
            message = config;
        }
        catch (Exception ex) when (FindBindError(ex) is { } bind)
        {
            message = $"routeiq: cannot listen: {bind} — is another routeiq (or demo) running? Stop it, or pick other ports with --urls and RouteIQ__Rollout__PublicUrl";
        }
        if (app is not null)
        {
            try
            {
                await app.DisposeAsync();
            }
            catch (Exception ex) when (ex is InvalidOperationException or IOException or OperationCanceledException or AggregateException)
            {
                // The host never started; what it could not stop was never running.
            }
        }
        await Console.Error.WriteLineAsync(message);
        return (null, ExitCodes.Usage);
    }

    /// <summary>
    /// What the admin binding guard would refuse after start-up, refused before anything starts
    /// (so the refusal is not buried under the start-up log).
    /// </summary>
    private static void RequireKeysOffLoopback(IConfiguration configuration)
    {
        if (new AdminAuth(configuration).Enabled)
        {
            return;
        }
        foreach (var url in (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var normalized = url.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal);
            var loopback = Uri.TryCreate(normalized, UriKind.Absolute, out var uri)
                && (uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
                    || (System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && System.Net.IPAddress.IsLoopback(ip)));
            if (!loopback)
            {
                throw new RouteIQConfigurationException(AdminAuth.Section,
                    $"no API keys are configured, so the admin API may only listen on loopback, not {url} (set RouteIQ__Admin__ApiKeys__0)");
            }
        }
    }

    /// <summary>
    /// The admin API's and the stable endpoint's ports, tried before anything starts: a second
    /// <c>demo</c> on the same ports gets one line at once instead of retries and bind traces.
    /// </summary>
    private static void RequireFreePorts(IConfiguration configuration)
    {
        var urls = (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Append(configuration["RouteIQ:Rollout:PublicUrl"] ?? "http://127.0.0.1:9000");
        foreach (var url in urls)
        {
            if (!Uri.TryCreate(url.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var uri) || uri.Port <= 0)
            {
                continue;
            }
            var address = System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) ? ip : System.Net.IPAddress.Loopback;
            var listener = new TcpListener(address, uri.Port);
            try
            {
                listener.Start();
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new IOException($"Failed to bind to address {url}: address already in use.", ex);
            }
            finally
            {
                listener.Stop();
            }
        }
    }

    private static string? FindBindError(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is IOException { InnerException: SocketException or null } io && io.Message.Contains("bind", StringComparison.OrdinalIgnoreCase))
            {
                return io.Message;
            }
            if (e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse or SocketError.AddressNotAvailable or SocketError.AccessDenied } socket)
            {
                return socket.Message;
            }
        }
        return null;
    }

    /// <summary>Holds error logs back until the host has started (see <see cref="StartAsync"/>).</summary>
    private sealed class StartupLogGate
    {
        private volatile bool _open;

        public bool Allows(LogLevel level) => _open || level < LogLevel.Error;

        public void Open() => _open = true;
    }
}
