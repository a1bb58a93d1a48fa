using RouteIQ.Testing;

namespace RouteIQ.Cli.Tests;

/// <summary>A <c>routeiq demo</c> left running (one process, embedded defaults) on free loopback ports, once it says "demo complete".</summary>
internal sealed class RunningDemo : IAsyncDisposable
{
    private RunningDemo(ServiceProcess process, string admin, string stable)
    {
        Process = process;
        Admin = admin;
        Stable = stable;
    }

    public ServiceProcess Process { get; }
    public string Admin { get; }
    public string Stable { get; }

    public static async Task<RunningDemo> StartAsync(string prefix)
    {
        var dir = TestInfra.TempDirectory(prefix);
        var admin = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var stable = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var env = new Dictionary<string, string?>
        {
            ["RouteIQ__DataDir"] = Path.Combine(dir, "data"),
            ["RouteIQ__Rollout__PublicUrl"] = stable,
            ["ConnectionStrings__RabbitMq"] = null,
            ["ConnectionStrings__RouteIQ"] = null,
            ["NO_COLOR"] = "1",
        };
        var demo = ServiceProcess.Start("routeiq.dll", env, "demo", "--queries", "300", "--urls", admin);
        await TestInfra.WaitUntilAsync(() => Task.FromResult(demo.Output.Contains("demo complete", StringComparison.Ordinal) || demo.HasExited),
            TimeSpan.FromMinutes(3), "the demo to complete");
        Assert.False(demo.HasExited, demo.Output);
        return new RunningDemo(demo, admin, stable);
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
