using RouteIQ.Testing;

namespace RouteIQ.EndToEnd.Tests;

/// <summary>The README's first command: <c>routeiq demo</c> runs the whole loop and, with --exit, leaves nothing behind.</summary>
[Trait("Category", "Integration")]
public sealed class DemoTests
{
    [Fact]
    public async Task DemoCompletesTheWholeLoopAndStopsEverythingItStarted()
    {
        var dir = TestInfra.TempDirectory("demo");
        var port = TestInfra.FreePort();
        var env = new Dictionary<string, string?>
        {
            ["RouteIQ__DataDir"] = Path.Combine(dir, "data"),
            ["RouteIQ__Rollout__PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
            ["ConnectionStrings__RabbitMq"] = null,
            ["ConnectionStrings__RouteIQ"] = null,
            ["NO_COLOR"] = "1",
        };
        await using var demo = ServiceProcess.Start("routeiq.dll", env, "demo", "--exit", "--queries", "400", "--urls", $"http://127.0.0.1:{port}");

        Assert.Equal(0, await demo.WaitForExitAsync(TimeSpan.FromMinutes(3)));
        var output = demo.Output;
        foreach (var step in new[] { "1. telemetry", "2. dataset", "3. train + roll", "4. route", "best single model", "oracle", "continuous: drift detected", "continuous: retrained and live", "demo complete" })
        {
            Assert.Contains(step, output);
        }
        Assert.Contains("2,400 stored", output);
        var leftovers = await TestInfra.RunAsync("sh", "-c", $"grep -ls -F '{Path.Combine(dir, "data")}' /proc/[0-9]*/environ | grep -v /self/ || true");
        Assert.True(string.IsNullOrWhiteSpace(leftovers), "processes left behind:\n" + leftovers);
    }
}
