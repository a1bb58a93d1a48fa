using System.Collections.Concurrent;
using System.Text;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;
using RouteIQ.Cli;
using RouteIQ.Contracts;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.EndToEnd.Tests;

[Trait("Category", "Integration")]
public sealed class RolledOutObserver : IConsumer<ModelRolledOut>
{
    public ConcurrentQueue<ModelRolledOut> Seen { get; } = new();

    public Task Consume(ConsumeContext<ModelRolledOut> context)
    {
        Seen.Enqueue(context.Message);
        return Task.CompletedTask;
    }
}

[Trait("Category", "Integration")]
public sealed class RolledOutObserverDefinition : ConsumerDefinition<RolledOutObserver>
{
    public RolledOutObserverDefinition() => EndpointName = "e2e-observer.model-rolled-out";
}

/// <summary>
/// The whole loop on the real distributed stack: RabbitMQ, PostgreSQL, s3rver and Docker Engine,
/// the four services as separate processes, the trainer and the router server as real containers.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DistributedLoopTests
{
    private const string ApiKey = "e2e-admin-key";

    [Fact]
    public async Task TelemetryOnRabbitMqToServedRouterThenSecondVersionThenRollback()
    {
        var node = $"e2e-{Guid.NewGuid():N}"[..16];
        var dir = TestInfra.TempDirectory("distributed-loop");
        var specs = Directory.CreateDirectory(Path.Combine(dir, "specs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(specs, "knn.yaml"), $"""
            knn-distributed:
              trainer_image: routeiq/router-trainer:dev
              serve_image: routeiq/router-server:dev
              model_name: knn-distributed
              timeout: 600
              env:
                ROUTER_TYPE: knn
                AWS_ENDPOINT_URL_S3: {TestInfra.S3Url}
                AWS_ACCESS_KEY_ID: {TestInfra.S3AccessKey}
                AWS_SECRET_ACCESS_KEY: {TestInfra.S3SecretKey}
            """);
        var rabbit = await TestInfra.CreateVirtualHostAsync("e2e");
        var common = new Dictionary<string, string?>
        {
            ["ConnectionStrings__RabbitMq"] = rabbit,
            ["ConnectionStrings__RouteIQ"] = await TestInfra.CreateDatabaseAsync("e2e"),
            ["RouteIQ__Artifacts__Uri"] = $"s3://{TestInfra.S3Bucket}/e2e-{node}",
            ["RouteIQ__Artifacts__ServiceUrl"] = TestInfra.S3Url,
            ["AWS_ACCESS_KEY_ID"] = TestInfra.S3AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = TestInfra.S3SecretKey,
            ["RouteIQ__Admin__ApiKeys__0"] = ApiKey,
            ["RouteIQ__NodeName"] = node,
            ["RouteIQ__Workloads__Launcher"] = "Docker",
            ["RouteIQ__Workloads__NetworkMode"] = "host",
        };
        int adminPort = TestInfra.FreePort(), telemetryPort = TestInfra.FreePort();
        var services = new List<ServiceProcess>();
        ServiceProcess Start(string dll, int port, params (string Key, string Value)[] extra)
        {
            var env = new Dictionary<string, string?>(common)
            {
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                ["RouteIQ__DataDir"] = Path.Combine(dir, dll),
            };
            foreach (var (key, value) in extra)
            {
                env[key] = value;
            }
            var process = ServiceProcess.Start(dll, env);
            services.Add(process);
            return process;
        }

        try
        {
            var admin = Start("RouteIQ.GatewayAdmin.dll", adminPort, ("RouteIQ__Specs__Path", specs));
            var runner = Start("RouteIQ.TrainerRunner.dll", TestInfra.FreePort(), ("RouteIQ__Runner__HeartbeatSeconds", "2"));
            var rollout = Start("RouteIQ.Rollout.dll", TestInfra.FreePort(),
                ("RouteIQ__Rollout__PublicUrl", $"http://127.0.0.1:{TestInfra.FreePort()}"),
                ("RouteIQ__Rollout__ServeEnvironment__AWS_ENDPOINT_URL_S3", TestInfra.S3Url),
                ("RouteIQ__Rollout__ServeEnvironment__AWS_ACCESS_KEY_ID", TestInfra.S3AccessKey),
                ("RouteIQ__Rollout__ServeEnvironment__AWS_SECRET_ACCESS_KEY", TestInfra.S3SecretKey));
            var ingest = Start("RouteIQ.TelemetryIngest.dll", telemetryPort, ("RouteIQ__Telemetry__StoreQueryText", "true"));
            await admin.WaitForHttpOkAsync($"http://127.0.0.1:{adminPort}/health/ready", TimeSpan.FromSeconds(120));
            await ingest.WaitForHttpOkAsync($"http://127.0.0.1:{telemetryPort}/health/ready", TimeSpan.FromSeconds(120));

            await using var observer = await StartObserverAsync(rabbit);
            using var adminClient = AdminClient.Create($"http://127.0.0.1:{adminPort}", ApiKey, TimeSpan.FromMinutes(10));
            using var telemetryClient = AdminClient.Create($"http://127.0.0.1:{telemetryPort}", ApiKey);

            var unauthorized = await AdminClient.Create($"http://127.0.0.1:{adminPort}", null).SendAsync(HttpMethod.Get, "admin/jobs");
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, unauthorized.Status);

            var scenario = new LoopScenario(adminClient, telemetryClient, "knn-distributed", events => PublishRawAsync(rabbit, events));
            await scenario.RunAsync();

            var seen = observer.Services.GetRequiredService<RolledOutObserver>().Seen;
            await TestInfra.WaitUntilAsync(() => Task.FromResult(seen.Count >= 3), TimeSpan.FromSeconds(30), "three ModelRolledOut events");
            Assert.Equal([.. scenario.RolledOutVersions, scenario.RolledOutVersions[0]], seen.Select(e => e.Version).ToList());
            Assert.All(seen, e => Assert.Equal(64, e.ManifestSha256.Length));
            Assert.True(seen.Last().IsRollback);

            // Training ran in containers that are gone; the active version is served by exactly one container.
            var trainers = await TestInfra.RunAsync("docker", "ps", "-a", "--filter", $"label=routeiq.node={node}", "--format", "{{.Names}}");
            Assert.DoesNotContain("routeiq-train-", trainers);
            var servers = (await TestInfra.RunAsync("docker", "ps", "-a", "--filter", $"label=routeiq.node={node}/serve", "--format", "{{.Names}}"))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var server = Assert.Single(servers);
            Assert.Contains($"-v{scenario.RolledOutVersions[0]}-", server);
        }
        finally
        {
            foreach (var service in services)
            {
                await service.TerminateAsync(TimeSpan.FromSeconds(45));
                await service.DisposeAsync();
            }
            foreach (var label in new[] { node, node + "/serve" })
            {
                await TestInfra.RunAsync("sh", "-c", $"ids=$(docker ps -aq --filter label=routeiq.node={label}); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null");
            }
        }
    }

    /// <summary>A gateway written without MassTransit: raw JSON bodies on the contract's exchange.</summary>
    private static async Task PublishRawAsync(string rabbitUri, IReadOnlyList<string> events)
    {
        var factory = new ConnectionFactory { Uri = new Uri(rabbitUri) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        // The ingest service declares and binds its queue at start; wait until it has.
        await TestInfra.WaitUntilAsync(async () =>
        {
            try
            {
                await using var probe = await connection.CreateChannelAsync();
                await probe.QueueDeclarePassiveAsync("telemetry-ingest.router-decisions");
                return true;
            }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), "the telemetry queue");
        var properties = new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent };
        foreach (var e in events)
        {
            await channel.BasicPublishAsync("routeiq.router_decision.v1", "", mandatory: false, properties, Encoding.UTF8.GetBytes(e));
        }
    }

    private static async Task<WebApplication> StartObserverAsync(string rabbitUri)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = rabbitUri,
            ["RouteIQ:DataDir"] = TestInfra.TempDirectory("observer"),
        });
        builder.AddServiceDefaults("e2e-observer");
        builder.Services.AddSingleton<RolledOutObserver>();
        builder.AddRouteIQConsumers(x => x.AddConsumer<RolledOutObserver, RolledOutObserverDefinition>());
        builder.AddRouteIQBus();
        var app = builder.Build();
        await app.StartAsync();
        return app;
    }
}
