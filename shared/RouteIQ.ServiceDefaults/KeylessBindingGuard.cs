using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// Without admin API keys the server may listen on loopback only, and it refuses any other
/// address before it binds: the server (Kestrel) is wrapped, and the addresses it is about to
/// bind (<c>urls</c>, <c>ASPNETCORE_URLS</c>, <c>http_ports</c>, <c>Kestrel:Endpoints</c>) are
/// checked before the inner server starts. Endpoints configured in code are only known once bound;
/// for those, requests wait until the bound addresses are checked, and are aborted (never
/// answered) when the server is refused. With keys nothing is wrapped.
/// </summary>
public sealed partial class KeylessBindingGuard(IServer inner, AdminAuth auth, IConfiguration configuration, ILogger<KeylessBindingGuard> logger) : IServer
{
    public IFeatureCollection Features => inner.Features;

    /// <summary>Replaces the registered <see cref="IServer"/> (Kestrel) with the guard around it; no-op for hosts without a server.</summary>
    public static void Decorate(IServiceCollection services)
    {
        var descriptor = services.LastOrDefault(d => d.ServiceType == typeof(IServer));
        if (descriptor is null || descriptor.IsKeyedService)
        {
            return;
        }
        services.Remove(descriptor);
        services.AddSingleton<IServer>(sp =>
        {
            var server = descriptor.ImplementationInstance as IServer
                ?? descriptor.ImplementationFactory?.Invoke(sp) as IServer
                ?? (IServer)ActivatorUtilities.CreateInstance(sp, descriptor.ImplementationType!);
            return new KeylessBindingGuard(server, sp.GetRequiredService<AdminAuth>(), sp.GetRequiredService<IConfiguration>(),
                sp.GetRequiredService<ILogger<KeylessBindingGuard>>());
        });
    }

    public async Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull
    {
        if (auth.Enabled)
        {
            await inner.StartAsync(application, cancellationToken).ConfigureAwait(false);
            return;
        }
        // What the host put in the addresses feature (urls / ASPNETCORE_URLS / http_ports) and the
        // Kestrel configuration section; with neither, Kestrel binds http://localhost:5000.
        var planned = (inner.Features.Get<IServerAddressesFeature>()?.Addresses ?? []).ToList();
        planned.AddRange(configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>());
        Refuse(planned);

        var gate = new GatedApplication<TContext>(application);
        await inner.StartAsync(gate, cancellationToken).ConfigureAwait(false);
        try
        {
            Refuse(inner.Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
        }
        catch
        {
            gate.Close();
            await inner.StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        gate.Open();
        LogKeyless(logger);
    }

    private static void Refuse(IEnumerable<string> addresses)
    {
        if (addresses.FirstOrDefault(a => !IsLoopback(a)) is { } address)
        {
            throw new RouteIQConfigurationException(AdminAuth.Section,
                $"no API keys are configured, so the admin API may only listen on loopback, not {address}");
        }
    }

    public static bool IsLoopback(string address)
    {
        if (!Uri.TryCreate(address.Replace("://+", "://0.0.0.0").Replace("://*", "://0.0.0.0"), UriKind.Absolute, out var uri))
        {
            return false;
        }
        if (uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }

    public Task StopAsync(CancellationToken cancellationToken) => inner.StopAsync(cancellationToken);

    public void Dispose() => inner.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "No admin API keys configured (RouteIQ:Admin:ApiKeys): the admin API is open, listening on loopback only")]
    private static partial void LogKeyless(ILogger logger);

    /// <summary>Holds requests until the bound addresses are checked; aborts them if the server is refused.</summary>
    private sealed class GatedApplication<TContext>(IHttpApplication<TContext> application) : IHttpApplication<GatedContext<TContext>>
        where TContext : notnull
    {
        private readonly TaskCompletionSource<bool> _checked = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _open;

        public void Open()
        {
            _open = true;
            _checked.TrySetResult(true);
        }

        public void Close() => _checked.TrySetResult(false);

        public GatedContext<TContext> CreateContext(IFeatureCollection contextFeatures) => new(application.CreateContext(contextFeatures), contextFeatures);

        public Task ProcessRequestAsync(GatedContext<TContext> context)
            => _open ? application.ProcessRequestAsync(context.Inner) : WaitThenProcessAsync(context);

        private async Task WaitThenProcessAsync(GatedContext<TContext> context)
        {
            if (await _checked.Task.ConfigureAwait(false))
            {
                await application.ProcessRequestAsync(context.Inner).ConfigureAwait(false);
                return;
            }
            context.Features.Get<IHttpRequestLifetimeFeature>()?.Abort();
        }

        public void DisposeContext(GatedContext<TContext> context, Exception? exception) => application.DisposeContext(context.Inner, exception);
    }

    private readonly record struct GatedContext<TContext>(TContext Inner, IFeatureCollection Features);
}
