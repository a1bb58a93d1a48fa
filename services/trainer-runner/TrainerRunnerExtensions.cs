using MassTransit;
using Microsoft.Extensions.Options;
using RouteIQ.ServiceDefaults;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner;

public static class TrainerRunnerExtensions
{
    /// <summary>
    /// A runner node: workloads, the train consumers (capacity from configuration), MLflow when
    /// configured, and the artifact store for job outputs. No database: its state is the bus and its workloads.
    /// </summary>
    public static IHostApplicationBuilder AddTrainerRunner(this IHostApplicationBuilder builder)
    {
        builder.AddRouteIQArtifactStore();
        builder.AddRouteIQWorkloads();

        builder.Services.AddOptions<RunnerOptions>()
            .BindConfiguration(RunnerOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<RunnerState>();
        builder.Services.AddSingleton<TrainJobs>();
        builder.Services.AddHostedService<RunnerLifecycle>();

        var trackingUri = builder.Configuration["MLFLOW_TRACKING_URI"];
        builder.Services.AddSingleton(new MlflowSettings(
            string.IsNullOrWhiteSpace(trackingUri) ? null : trackingUri,
            builder.Configuration["MLFLOW_EXPERIMENT"] is { Length: > 0 } experiment ? experiment : null));
        if (!string.IsNullOrWhiteSpace(trackingUri))
        {
            if (!Uri.TryCreate(trackingUri.TrimEnd('/') + "/", UriKind.Absolute, out var baseAddress)
                || baseAddress.Scheme is not ("http" or "https"))
            {
                throw new RouteIQConfigurationException("MLFLOW_TRACKING_URI", $"'{trackingUri}' is not an http(s) URL");
            }
            builder.Services.AddHttpClient<MlflowClient>(http =>
            {
                http.BaseAddress = baseAddress;
                http.Timeout = TimeSpan.FromSeconds(15);
            });
        }

        // The consumer set depends on this node's capacity, known from configuration now.
        var routeiq = builder.Configuration.GetSection(RouteIQOptions.Section).Get<RouteIQOptions>() ?? new RouteIQOptions();
        var gpus = builder.Configuration.GetValue<int?>($"{RunnerOptions.Section}:Gpus") ?? 0;
        var cancelQueue = $"trainer-runner.cancel.{routeiq.ResolvedNodeName}-{Guid.NewGuid().ToString("N")[..8]}";
        builder.AddRouteIQConsumers(x =>
        {
            x.AddConsumer<TrainRequestedConsumer, TrainRequestedConsumerDefinition>();
            if (gpus > 0)
            {
                x.AddConsumer<GpuTrainRequestedConsumer, GpuTrainRequestedConsumerDefinition>();
            }
            x.AddConsumer<CancelTrainConsumer>().Endpoint(e =>
            {
                e.Name = cancelQueue;
                e.Temporary = true;
            });
        });
        return builder;
    }

    public static IEndpointRouteBuilder MapTrainerRunnerApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/runner/status", (RunnerState state, IWorkloadLauncher launcher, TimeProvider time) => Results.Ok(new
        {
            node = state.Node,
            launcher = launcher.Kind,
            slots = state.Slots,
            gpus = state.Gpus,
            draining = state.Draining,
            taken = state.Taken,
            max_concurrent = state.MaxConcurrent,
            removed_orphans = state.RemovedOrphans,
            running = state.Running().Select(j => new
            {
                job_id = j.JobId,
                attempt = j.Attempt,
                trainer = j.Request.Trainer,
                workload = j.WorkloadName,
                elapsed_seconds = Math.Round((time.GetUtcNow() - j.AcceptedAt).TotalSeconds, 1),
            }),
        }))
        .WithName("RunnerStatus")
        .WithSummary("This runner node: capacity, running jobs, orphans removed at start.");
        return endpoints;
    }
}
