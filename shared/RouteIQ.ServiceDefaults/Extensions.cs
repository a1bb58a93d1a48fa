using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace RouteIQ.ServiceDefaults;

public static class Extensions
{
    /// <summary>Our own ActivitySource and Meter name.</summary>
    public const string TelemetrySourceName = "RouteIQ";

    public const long MaxRequestBodyBytes = 1024 * 1024;

    /// <summary>
    /// Hosting every service needs: OpenTelemetry, <c>/health/live</c>, problem details, options,
    /// logging defaults, the request body limit, <see cref="TimeProvider"/>, the shutdown grace and
    /// the admin key set with its loopback-only binding rule (<see cref="KeylessBindingGuard"/>). Call
    /// once per process, before the services' <c>AddXxx()</c>, which opt into what they use:
    /// <see cref="PersistenceExtensions.AddRouteIQDbContext{TContext}"/>,
    /// <see cref="ArtifactStoreExtensions.AddRouteIQArtifactStore"/>,
    /// <see cref="ApiKeyAuthentication.AddRouteIQApiKeyAuth"/>.
    /// </summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder, string serviceName)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(ServiceDefaultsMarker)))
        {
            return builder;
        }
        builder.Services.AddSingleton(new ServiceDefaultsMarker(serviceName));

        builder.Services.AddOptions<RouteIQOptions>()
            .BindConfiguration(RouteIQOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // Per-request framework logs (two Information lines per HTTP request, one per SQL command)
        // cost more than the requests themselves on the hot paths; they are defaults only, the
        // first configuration source, so any `Logging:LogLevel:*` a user sets wins.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
                ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Warning",
                ["Logging:LogLevel:System.Net.Http.HttpClient"] = "Warning",
                ["Logging:LogLevel:Yarp"] = "Warning",
            },
        });

        builder.ConfigureOpenTelemetry(serviceName);

        builder.Services.AddProblemDetails();
        builder.Services.Configure<KestrelServerOptions>(o => o.Limits.MaxRequestBodySize = MaxRequestBodyBytes);
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);

        // Health details are redacted for anonymous callers, and without keys the server binds loopback only.
        builder.Services.TryAddSingleton<AdminAuth>();
        KeylessBindingGuard.Decorate(builder.Services);
        builder.Services.AddSingleton(TimeProvider.System);

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(
            int.TryParse(builder.Configuration["RouteIQ:ShutdownGraceSeconds"], out var grace) ? grace : 30));
        return builder;
    }

    public static IHostApplicationBuilder ConfigureOpenTelemetry(this IHostApplicationBuilder builder, string serviceName)
    {
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Configuration["OTEL_SERVICE_NAME"] ?? $"routeiq-{serviceName}"))
            .WithTracing(tracing => tracing
                .AddSource(TelemetrySourceName)
                .AddSource("MassTransit")
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !ctx.Request.Path.StartsWithSegments("/health"))
                .AddHttpClientInstrumentation()
                .AddNpgsql())
            .WithMetrics(metrics => metrics
                .AddMeter(TelemetrySourceName)
                .AddMeter("MassTransit")
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.UseOtlpExporter();
        }
        return builder;
    }

    /// <summary>
    /// <c>/health/live</c> (the process runs) and <c>/health/ready</c> (bus, database, artifact store, …),
    /// plus the API-key authentication and authorization middleware when the host opted into it.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseRouteIQApiKeyAuth();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = r => !r.Tags.Contains("live"),
            ResponseWriter = WriteHealthAsync,
        });
        return app;
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        // Check descriptions name paths, URLs and spec files: only for an admin (or when no keys are configured).
        var details = context.RequestServices.GetRequiredService<AdminAuth>().IsAuthorized(context.Request);
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString(),
                description = details ? e.Value.Description ?? e.Value.Exception?.Message : null,
            }),
        });
    }

    private sealed record ServiceDefaultsMarker(string ServiceName);
}
