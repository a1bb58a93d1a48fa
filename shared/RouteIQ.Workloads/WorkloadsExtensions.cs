using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.Workloads;

public static class WorkloadsExtensions
{
    /// <summary>
    /// Registers options <c>RouteIQ:Workloads</c> and the selected <see cref="IWorkloadLauncher"/>
    /// singleton: <c>RouteIQ:Workloads:Launcher</c> when set (<c>Docker</c> / <c>Process</c>), else
    /// Docker when a Docker socket answers, else Process. Idempotent: trainer-runner and rollout
    /// both call it, and in embedded mode they share one launcher.
    /// </summary>
    public static IHostApplicationBuilder AddRouteIQWorkloads(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(WorkloadsMarker)))
        {
            return builder;
        }
        builder.Services.AddSingleton<WorkloadsMarker>();
        builder.Services.TryAddSingleton(TimeProvider.System);

        // Fail at start, naming the key, rather than on the first job.
        var launcher = builder.Configuration[$"{WorkloadsOptions.Section}:Launcher"];
        if (!string.IsNullOrWhiteSpace(launcher) && ParseLauncher(launcher) is null)
        {
            throw new RouteIQConfigurationException($"{WorkloadsOptions.Section}:Launcher",
                $"'{launcher}' is not a launcher; use {WorkloadsOptions.DockerLauncher} or {WorkloadsOptions.ProcessLauncher}");
        }

        builder.Services.AddOptions<WorkloadsOptions>()
            .BindConfiguration(WorkloadsOptions.Section)
            .PostConfigure<IOptions<RouteIQOptions>>((options, routeiq) =>
            {
                if (string.IsNullOrWhiteSpace(options.StateDirectory))
                {
                    options.StateDirectory = Path.Combine(routeiq.Value.FullDataDir, "workloads");
                }
            })
            .Validate(o => !string.IsNullOrWhiteSpace(o.NetworkMode), "RouteIQ:Workloads:NetworkMode must not be empty")
            .Validate(o => o.MaxLogChars >= 4096, "RouteIQ:Workloads:MaxLogChars must be at least 4096")
            .ValidateOnStart();

        builder.Services.AddSingleton<ProcessWorkloadLauncher>();
        builder.Services.AddSingleton<DockerWorkloadLauncher>();
        builder.Services.AddSingleton<IWorkloadLauncher>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<WorkloadsOptions>>().Value;
            var kind = ParseLauncher(options.Launcher);
            if (kind is null)
            {
                var available = DockerWorkloadLauncher
                    .IsAvailableAsync(options, TimeSpan.FromSeconds(options.DockerProbeSeconds))
                    .GetAwaiter().GetResult();
                kind = available ? WorkloadsOptions.DockerLauncher : WorkloadsOptions.ProcessLauncher;
                sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(WorkloadsExtensions))
                    .LogInformation("RouteIQ:Workloads:Launcher not set; Docker {Answer}: using the {Launcher} launcher",
                        available ? "answers" : "does not answer", kind);
            }
            return kind == WorkloadsOptions.DockerLauncher
                ? sp.GetRequiredService<DockerWorkloadLauncher>()
                : sp.GetRequiredService<ProcessWorkloadLauncher>();
        });
        return builder;
    }

    private static string? ParseLauncher(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        "docker" => WorkloadsOptions.DockerLauncher,
        "process" => WorkloadsOptions.ProcessLauncher,
        _ => null,
    };

    private sealed class WorkloadsMarker;
}
