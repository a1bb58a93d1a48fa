using Microsoft.Extensions.Configuration.Memory;
using RouteIQ.GatewayAdmin;
using RouteIQ.Rollout;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest;
using RouteIQ.TrainerRunner;

namespace RouteIQ.Cli;

/// <summary>
/// All four services in one process on the embedded defaults (in-memory bus, SQLite, file
/// artifacts, local-process workloads). Configuration overrides any default: with
/// <c>ConnectionStrings__RabbitMq</c> set it uses RabbitMQ, with <c>ConnectionStrings__RouteIQ</c> PostgreSQL.
/// </summary>
public static class EmbeddedHost
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null, IReadOnlyDictionary<string, string?>? defaults = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        // Embedded defaults sit below every other source, so configuration still overrides them.
        ((IConfigurationBuilder)builder.Configuration).Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>(defaults ?? new Dictionary<string, string?>())
            {
                ["RouteIQ:Workloads:Launcher"] = "Process",
                // One process owns everything it starts: router servers end with it.
                ["RouteIQ:Rollout:StopServersOnShutdown"] = "true",
            },
        });
        builder.UseDefaultUrls(DefaultUrl);
        builder.AddServiceDefaults("embedded");
        configure?.Invoke(builder);
        builder.AddGatewayAdmin();
        builder.AddTrainerRunner();
        builder.AddRollout();
        builder.AddTelemetryIngest();
        builder.AddRouteIQBus();

        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGatewayAdminApi();
        app.MapTrainerRunnerApi();
        app.MapRolloutApi();
        app.MapTelemetryIngestApi();
        return app;
    }
}
