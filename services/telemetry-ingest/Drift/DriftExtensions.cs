using MassTransit;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.TelemetryIngest.Drift;

public static class DriftExtensions
{
    /// <summary>
    /// Per-window statistics of the decision stream (<c>RouteIQ:Telemetry:Drift:*</c>): committed
    /// batches are summed, a flusher writes the sums, and the bus
    /// answers gateway-admin's <c>GetDecisionStatistics</c> and <c>BuildDataset</c>.
    /// </summary>
    public static IHostApplicationBuilder AddDriftStatistics(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<DriftOptions>().BindConfiguration(DriftOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<DriftAccumulator>();
        builder.Services.AddSingleton<DriftStatisticsFlusher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DriftStatisticsFlusher>());
        builder.Services.AddSingleton<DriftEvaluator>();

        if (builder.Configuration.GetValue<bool?>($"{DriftOptions.Section}:Enabled") ?? true)
        {
            builder.Services.AddSingleton<IStoredBatchObserver, DriftStatisticsObserver>();
        }

        builder.AddRouteIQConsumers(x =>
        {
            x.AddConsumer<DecisionStatisticsConsumer, DecisionStatisticsConsumerDefinition>();
            x.AddConsumer<BuildDatasetConsumer, BuildDatasetConsumerDefinition>();
        });
        return builder;
    }
}
