using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// API keys for every <c>/admin/*</c> route (<c>RouteIQ:Admin:ApiKeys</c>, env
/// <c>RouteIQ__Admin__ApiKeys__0</c>…), as <c>Authorization: Bearer</c> or <c>X-API-Key</c>,
/// compared in constant time. Without keys the server refuses to listen on anything but loopback.
/// </summary>
public sealed class AdminAuth
{
    public const string Section = "RouteIQ:Admin:ApiKeys";
    private readonly byte[][] _keyHashes;

    public AdminAuth(IConfiguration configuration)
    {
        _keyHashes = configuration.GetSection(Section).GetChildren()
            .Select(c => c.Value)
            .Where(v => !string.IsNullOrWhiteSpace(v))
            .Select(v => SHA256.HashData(Encoding.UTF8.GetBytes(v!.Trim())))
            .ToArray();
    }

    public bool Enabled => _keyHashes.Length > 0;

    public bool IsValid(string? presented)
    {
        if (string.IsNullOrEmpty(presented))
        {
            return false;
        }
        // Hashing first makes every comparison the same length; the loop never exits early.
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented.Trim()));
        var ok = false;
        foreach (var key in _keyHashes)
        {
            ok |= CryptographicOperations.FixedTimeEquals(hash, key);
        }
        return ok;
    }

    public static string? ReadKey(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..];
        }
        var apiKey = request.Headers["X-API-Key"].ToString();
        return apiKey.Length > 0 ? apiKey : null;
    }
}

public static class AdminAuthExtensions
{
    /// <summary>Rejects unauthenticated <c>/admin/*</c> requests with 401 problem+json.</summary>
    public static IApplicationBuilder UseRouteIQAdminAuth(this IApplicationBuilder app)
    {
        var auth = app.ApplicationServices.GetRequiredService<AdminAuth>();
        return app.Use(async (context, next) =>
        {
            if (auth.Enabled
                && context.Request.Path.StartsWithSegments("/admin", StringComparison.OrdinalIgnoreCase)
                && !auth.IsValid(AdminAuth.ReadKey(context.Request)))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Results.Problem(statusCode: 401, title: "Unauthorized",
                    detail: "an API key is required (Authorization: Bearer <key> or X-API-Key)",
                    extensions: new Dictionary<string, object?> { ["error"] = "unauthorized" }).ExecuteAsync(context);
                return;
            }
            await next(context);
        });
    }
}

/// <summary>Refuses to serve without API keys on any address but loopback; says so at start when keyless.</summary>
internal sealed class AdminBindingGuard(AdminAuth auth, IServer server, ILogger<AdminBindingGuard> logger) : IHostedLifecycleService
{
    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (auth.Enabled)
        {
            return Task.CompletedTask;
        }
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        foreach (var address in addresses)
        {
            if (!IsLoopback(address))
            {
                throw new RouteIQConfigurationException(AdminAuth.Section,
                    $"no API keys are configured, so the admin API may only listen on loopback, not {address}");
            }
        }
        logger.LogWarning("No admin API keys configured (RouteIQ:Admin:ApiKeys): the admin API is open, listening on loopback only");
        return Task.CompletedTask;
    }

    internal static bool IsLoopback(string address)
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

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
