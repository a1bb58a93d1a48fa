using MassTransit;
using Microsoft.Extensions.Options;
using RouteIQ.Rollout.Consumers;
using RouteIQ.Rollout.Registry;
using RouteIQ.Rollout.Rollouts;
using RouteIQ.Rollout.Serving;
using RouteIQ.ServiceDefaults;
using RouteIQ.Workloads;

namespace RouteIQ.Rollout;

public static class RolloutExtensions
{
    /// <summary>
    /// The model registry, blue/green rollouts and the stable endpoint (its own Kestrel server on
    /// <c>RouteIQ:Rollout:PublicUrl</c>). Works alone and composed with the other services.
    /// </summary>
    public static IHostApplicationBuilder AddRollout(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RolloutOptions>()
            .BindConfiguration(RolloutOptions.Section)
            .ValidateDataAnnotations()
            .Validate(o => Uri.TryCreate(o.PublicUrl, UriKind.Absolute, out var u) && u.Scheme == Uri.UriSchemeHttp && u.AbsolutePath == "/",
                $"{RolloutOptions.Section}:PublicUrl must be an http://host:port URL without a path")
            .ValidateOnStart();

        // Validated now, so a missing key file fails at start with the key named.
        var signing = ManifestSigning.FromOptions(
            builder.Configuration.GetSection(RolloutOptions.Section).Get<RolloutOptions>()?.Signing ?? new RolloutOptions.SigningOptions());
        builder.Services.AddSingleton(signing);

        builder.AddRouteIQDbContext<RegistryDbContext>(RegistryDbContext.Schema);
        builder.AddRouteIQArtifactStore();
        builder.AddRouteIQWorkloads();

        builder.Services.AddSingleton<ModelRegistry>();
        builder.Services.AddSingleton<ModelPublisher>();
        builder.Services.AddSingleton<ServingManager>();
        builder.Services.AddSingleton<StableRouteTable>();
        builder.Services.AddSingleton<RolloutReadiness>();
        builder.Services.AddSingleton<PromotionRunner>();
        builder.Services.AddSingleton<RolloutCoordinator>();
        builder.Services.AddSingleton<StableEndpointHost>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StableEndpointHost>());
        builder.Services.AddHostedService<RolloutReconciler>();
        builder.Services.AddHealthChecks().AddCheck<RolloutHealthCheck>("rollout", tags: ["ready"]);

        builder.AddRouteIQConsumers(x =>
        {
            x.AddConsumer<TrainCompletedConsumer, TrainCompletedConsumerDefinition>();
            x.AddConsumer<RollRequestedConsumer, RollRequestedConsumerDefinition>();
            x.AddConsumer<RegistryQueryConsumer, RegistryQueryConsumerDefinition>();
            x.AddConsumer<RolloutQueryConsumer, RolloutQueryConsumerDefinition>();
        });
        return builder;
    }

    /// <summary>Rollout has no HTTP API of its own on the service port: gateway-admin fronts it over the bus.</summary>
    public static IEndpointRouteBuilder MapRolloutApi(this IEndpointRouteBuilder endpoints)
    {
        return endpoints;
    }

    private sealed class RolloutHealthCheck(RolloutReadiness readiness, StableEndpointHost endpoint) : Microsoft.Extensions.Diagnostics.HealthChecks.IHealthCheck
    {
        public Task<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult> CheckHealthAsync(
            Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext context, CancellationToken cancellationToken = default)
            => Task.FromResult(readiness.IsReady && endpoint.BoundAddress is not null
                ? Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy($"stable endpoint {endpoint.BoundAddress}")
                : Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Unhealthy("restoring recorded deployments"));
    }
}
