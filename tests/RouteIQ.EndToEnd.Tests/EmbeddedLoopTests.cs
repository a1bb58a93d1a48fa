using System.Text;
using RouteIQ.Cli;
using RouteIQ.Testing;

namespace RouteIQ.EndToEnd.Tests;

/// <summary>The whole loop through <c>routeiq up</c>: one process, in-memory bus, SQLite, file store, local processes.</summary>
[Trait("Category", "Integration")]
public sealed class EmbeddedLoopTests
{
    [Fact]
    public async Task TelemetryToServedRouterThenSecondVersionThenRollback()
    {
        var dir = TestInfra.TempDirectory("embedded-loop");
        var specs = Directory.CreateDirectory(Path.Combine(dir, "specs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(specs, "knn.yaml"), """
            knn-embedded:
              trainer_image: routeiq/router-trainer:dev
              serve_image: routeiq/router-server:dev
              model_name: knn-embedded
              timeout: 300
              env:
                ROUTER_TYPE: knn
            """);
        var port = TestInfra.FreePort();
        var env = new Dictionary<string, string?>
        {
            ["RouteIQ__DataDir"] = Path.Combine(dir, "data"),
            ["RouteIQ__Specs__Path"] = specs,
            ["RouteIQ__Rollout__PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
            ["RouteIQ__Telemetry__StoreQueryText"] = "true",
            ["ConnectionStrings__RabbitMq"] = null,
            ["ConnectionStrings__RouteIQ"] = null,
        };
        await using var up = ServiceProcess.Start("routeiq.dll", env, "up", "--urls", $"http://127.0.0.1:{port}");
        await up.WaitForHttpOkAsync($"http://127.0.0.1:{port}/health/ready", TimeSpan.FromSeconds(90));
        using var admin = AdminClient.Create($"http://127.0.0.1:{port}", null, TimeSpan.FromMinutes(5));

        var scenario = new LoopScenario(admin, admin, "knn-embedded", async events =>
        {
            foreach (var chunk in events.Chunk(500))
            {
                using var content = new StringContent(string.Join('\n', chunk), Encoding.UTF8, "application/x-ndjson");
                using var response = await admin.Http.PostAsync("admin/telemetry/events", content);
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            }
        });
        await scenario.RunAsync();

        // A clean stop takes the router servers it started with it.
        Assert.Equal(0, await up.TerminateAsync(TimeSpan.FromSeconds(60)));
        // Every workload the host started carries its data dir in its environment.
        var leftovers = await TestInfra.RunAsync("sh", "-c", $"grep -ls -F '{Path.Combine(dir, "data")}' /proc/[0-9]*/environ | grep -v /self/ || true");
        Assert.True(string.IsNullOrWhiteSpace(leftovers), "processes left behind:\n" + leftovers);
    }
}
