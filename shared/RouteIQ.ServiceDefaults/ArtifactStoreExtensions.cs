using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using RouteIQ.Artifacts;

namespace RouteIQ.ServiceDefaults;

public static class ArtifactStoreExtensions
{
    /// <summary>
    /// The artifact store (<see cref="ArtifactStoreOptions"/>) and its <c>artifacts</c> ready check,
    /// for the services that read or write artifacts. Once per process: embedded mode calls it from
    /// every service's <c>AddXxx()</c>.
    /// </summary>
    public static IHostApplicationBuilder AddRouteIQArtifactStore(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(ArtifactStoreMarker)))
        {
            return builder;
        }
        builder.Services.AddSingleton<ArtifactStoreMarker>();

        // Validated now, so a bad URI fails at start with the key named.
        var store = ArtifactStoreOptions.Create(builder.Configuration);
        builder.Services.AddSingleton(store);
        builder.Services.AddHealthChecks().AddCheck<ArtifactStoreHealthCheck>("artifacts", tags: ["ready"]);
        return builder;
    }

    private sealed class ArtifactStoreMarker;

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
