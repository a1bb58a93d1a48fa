using MassTransit;
using RouteIQ.GatewayAdmin.Api;
using RouteIQ.GatewayAdmin.Continuous;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.GatewayAdmin.Specs;
using RouteIQ.GatewayAdmin.Ui;
using RouteIQ.ServiceDefaults;
using Scalar.AspNetCore;

namespace RouteIQ.GatewayAdmin;

public static class GatewayAdminExtensions
{
    public const string ProbeClient = "gateway-admin.probe";

    /// <summary>
    /// The admin API over the job ledger: trainer specs (<c>RouteIQ:Specs:*</c>), the ledger
    /// (schema <c>gateway_admin</c>) with its outbox, consumers, lost-job sweeper and the
    /// OpenAPI document; the artifact store (job logs, datasets, models) and API-key auth for
    /// <c>/admin</c>. The host adds the bus (<c>AddRouteIQBus()</c>) afterwards.
    /// </summary>
    public static IHostApplicationBuilder AddGatewayAdmin(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SpecOptions>().BindConfiguration(SpecOptions.Section);
        builder.Services.AddOptions<JobOptions>()
            .Configure<IConfiguration>((o, config) =>
            {
                // The runners' heartbeat period, unless the ledger is told its own.
                if (config.GetValue<int?>("RouteIQ:Runner:HeartbeatSeconds") is { } runner)
                {
                    o.HeartbeatSeconds = runner;
                }
            })
            .BindConfiguration(JobOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<AdminOptions>().BindConfiguration(AdminOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        builder.Services.AddSingleton<TrainerSpecStore>();
        builder.Services.AddHostedService<TrainerSpecWatcher>();
        builder.Services.AddHealthChecks().AddCheck<TrainerSpecHealthCheck>("trainer-specs", tags: ["ready"]);

        builder.AddRouteIQDbContext<LedgerDbContext>(LedgerDbContext.Schema);
        builder.AddRouteIQArtifactStore();
        builder.AddRouteIQApiKeyAuth();
        builder.Services.AddSingleton<GatewayAdminInstance>();
        builder.Services.AddSingleton<OutboxSignal>();
        builder.Services.AddSingleton<JobWaiters>();
        builder.Services.AddSingleton<JobLogStreams>();
        builder.Services.AddSingleton<JobWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<JobWriter>());
        builder.Services.AddSingleton<JobLedger>();
        builder.Services.AddSingleton<JobWaitService>();
        builder.Services.AddHostedService<OutboxDispatcher>();
        builder.Services.AddHostedService<LostJobSweeper>();
        builder.Services.AddHttpClient(ProbeClient);
        builder.AddContinuousTraining();

        builder.AddRouteIQConsumers(x =>
        {
            x.AddConsumer<TrainStartedConsumer, TrainStartedConsumerDefinition>();
            x.AddConsumer<TrainHeartbeatConsumer, TrainHeartbeatConsumerDefinition>();
            x.AddConsumer<TrainCompletedConsumer, TrainCompletedConsumerDefinition>();
            x.AddConsumer<TrainFailedConsumer, TrainFailedConsumerDefinition>();
            x.AddConsumer<ModelVersionRegisteredConsumer, ModelVersionRegisteredConsumerDefinition>();
            x.AddConsumer<ModelRolledOutConsumer, ModelRolledOutConsumerDefinition>();
            x.AddConsumer<RollFailedConsumer, RollFailedConsumerDefinition>();
            x.AddConsumer<JobStateChangedConsumer, JobStateChangedConsumerDefinition>();
            x.AddConsumer<TrainLogAppendedConsumer, TrainLogAppendedConsumerDefinition>();
        });

        builder.AddRouteIQHttpApi();
        builder.AddGatewayAdminUi();
        return builder;
    }

    public static IEndpointRouteBuilder MapGatewayAdminApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapAdminEndpoints();
        endpoints.MapContinuousApi();
        endpoints.MapOpenApi();
        endpoints.MapScalarApiReference();
        endpoints.MapGatewayAdminUi();
        return endpoints;
    }
}
