using RouteIQ.Testing;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// <c>up</c> from inside the checkout reads deploy/trainer-specs, as <c>demo</c> does; a spec path
/// that does not exist is a loud warning with the path at start, not a later "trainer spec not found".
/// </summary>
[Trait("Category", "Integration")]
public sealed class UpFindsTheShippedSpecsTests
{
    private static async Task<string> StartUpAsync(string? specsPath)
    {
        var env = new Dictionary<string, string?>
        {
            ["RouteIQ__DataDir"] = TestInfra.TempDirectory("cli-up"),
            ["RouteIQ__Rollout__PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
            ["ConnectionStrings__RabbitMq"] = null,
            ["ConnectionStrings__RouteIQ"] = null,
            ["RouteIQ__Specs__Path"] = specsPath,
            ["NO_COLOR"] = "1",
        };
        await using var up = ServiceProcess.Start("routeiq.dll", env, "up", "--urls", $"http://127.0.0.1:{TestInfra.FreePort()}");
        await TestInfra.WaitUntilAsync(() => Task.FromResult(up.Output.Contains("routeiq up: health", StringComparison.Ordinal) || up.HasExited),
            TimeSpan.FromSeconds(90), "routeiq up to start");
        await TestInfra.WaitUntilAsync(() => Task.FromResult(specsPath is null || up.Output.Contains("WARNING", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), "the warning");
        return up.Output;
    }

    [Fact]
    public async Task UpReadsDeployTrainerSpecsFromTheCheckout()
    {
        var output = await StartUpAsync(null);
        Assert.Contains($"routeiq up: trainer specs    {Path.Combine(Repository.Root, "deploy", "trainer-specs")}", output);
        Assert.DoesNotContain("WARNING", output);
    }

    [Fact]
    public async Task AMissingSpecPathIsALoudWarningWithThePath()
    {
        var missing = Path.Combine(TestInfra.TempDirectory("cli-up-specs"), "trainer-specs");
        var output = await StartUpAsync(missing);
        Assert.Contains($"routeiq up: WARNING: no trainer specs at {missing}", output);
    }
}
