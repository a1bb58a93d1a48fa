using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using RouteIQ.Artifacts;

namespace RouteIQ.ServiceDefaults;

public static class Extensions
{
    /// <summary>Our own ActivitySource and Meter name.</summary>
    public const string TelemetrySourceName = "RouteIQ";

    public const long MaxRequestBodyBytes = 1024 * 1024;

    /// <summary>
    /// OpenTelemetry, health checks, problem details, options, the artifact store and admin
    /// auth. Call once per process, before the services' <c>AddXxx()</c>.
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

        PersistenceExtensions.EnsureDatabaseReachable(builder.Configuration);

        // Validated now, so a bad URI fails at start with the key named.
        var store = ArtifactStoreOptions.Create(builder.Configuration);
        builder.Services.AddSingleton(store);
        builder.Services.AddHealthChecks().AddCheck<ArtifactStoreHealthCheck>("artifacts", tags: ["ready"]);

        builder.Services.AddSingleton<AdminAuth>();
        KeylessBindingGuard.Decorate(builder.Services);
        builder.Services.AddSingleton<IngestAuth>();
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

    /// <summary><c>/health/live</c> (the process runs) and <c>/health/ready</c> (bus, database, artifact store, …), plus admin auth.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseRouteIQAdminAuth();
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

    private sealed class ArtifactStoreHealthCheck(IArtifactStore store) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                cts.CancelAfter(TimeSpan.FromSeconds(5));
                await store.CheckAsync(cts.Token);
                return HealthCheckResult.Healthy(store.Root.ToString());
            }
            catch (Exception ex)
            {
                return HealthCheckResult.Unhealthy($"artifact store {store.Root}: {ex.Message}");
            }
        }
    }
}
