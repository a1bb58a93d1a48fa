using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>One trainer-runner node in this test process: its own host, its own node name, on a shared broker vhost.</summary>
public sealed class RunnerHost : IAsyncDisposable
{
    private RunnerHost(WebApplication app, string node, string dataDir, string url)
    {
        App = app;
        Node = node;
        DataDir = dataDir;
        Url = url;
    }

    public WebApplication App { get; }
    public string Node { get; }
    public string DataDir { get; }
    public string Url { get; }
    public RunnerState State => App.Services.GetRequiredService<RunnerState>();

    public static async Task<RunnerHost> StartAsync(string rabbitUri, string node, IDictionary<string, string?> settings)
    {
        var dataDir = TestInfra.TempDirectory($"runner-{node}");
        var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = typeof(TrainerRunnerExtensions).Assembly.GetName().Name });
        var all = new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = rabbitUri,
            ["RouteIQ:NodeName"] = node,
            ["RouteIQ:DataDir"] = dataDir,
            ["RouteIQ:Runner:HeartbeatSeconds"] = "1",
            ["RouteIQ:Runner:ShutdownGraceSeconds"] = "1",
            ["RouteIQ:Workloads:Launcher"] = "Docker",
            ["RouteIQ:Workloads:DockerHost"] = TestInfra.DockerHost,
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }
        builder.Configuration.AddInMemoryCollection(all);
        builder.UseDefaultUrls(url);
        builder.AddServiceDefaults("trainer-runner");
        builder.AddTrainerRunner();
        builder.AddRouteIQBus();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapTrainerRunnerApi();
        await app.StartAsync();
        return new RunnerHost(app, node, dataDir, url);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
