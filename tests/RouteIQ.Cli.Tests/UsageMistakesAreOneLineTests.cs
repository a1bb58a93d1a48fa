using System.Net;
using System.Net.Sockets;
using RouteIQ.Testing;

namespace RouteIQ.Cli.Tests;

/// <summary>A newcomer's usual mistakes get one line naming what to fix and exit code 2, never a stack trace.</summary>
[Trait("Category", "Integration")]
public sealed class UsageMistakesAreOneLineTests
{
    private static Dictionary<string, string?> Embedded(string? extraKey = null, string? extraValue = null)
    {
        var env = new Dictionary<string, string?>
        {
            ["RouteIQ__DataDir"] = TestInfra.TempDirectory("cli-usage"),
            ["RouteIQ__Rollout__PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
            ["ConnectionStrings__RabbitMq"] = null,
            ["ConnectionStrings__RouteIQ"] = null,
        };
        if (extraKey is not null)
        {
            env[extraKey] = extraValue;
        }
        return env;
    }

    private static void AssertOneLine(CliResult result, string expected)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line on stderr:\n" + result);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", result.Stdout + result.Stderr);
        Assert.True(result.Stdout.Split('\n').Length < 5, "stdout should stay quiet:\n" + result);
    }

    [Fact]
    public async Task AServerWithoutSchemeIsOneLine()
        => AssertOneLine(await CliProcess.RunAsync("--server", "127.0.0.1:28080", "status"), "--server http://127.0.0.1:28080");

    [Fact]
    public async Task UpWithAPortForUrlsIsOneLine()
        => AssertOneLine(await CliProcess.RunAsync(Embedded(), "up", "--urls", "28080"), "--urls http://127.0.0.1:28080");

    [Theory]
    [InlineData("demo", "--exitt", "--exit")]
    [InlineData("up", "--url", "--urls")]
    [InlineData("demo", "--querys", "--queries")]
    public async Task TyposInUpAndDemoOptionsAreRefused(string verb, string typo, string suggestion)
        => AssertOneLine(await CliProcess.RunAsync(Embedded(), verb, typo, "x"), $"did you mean {suggestion}?");

    [Fact]
    public async Task ConfigurationKeysStillPassThroughUp()
    {
        // A bad value through a --Section:Key argument reaches the host (and is reported as such).
        var result = await CliProcess.RunAsync(Embedded(), "up", "--urls", $"http://127.0.0.1:{TestInfra.FreePort()}", "--RouteIQ:Runner:Slots=many");
        AssertOneLine(result, "configuration error: RouteIQ:Runner:Slots: 'many' is not a whole number");
    }

    [Fact]
    public async Task ANonNumericRunnerSlotsIsOneLine()
    {
        var result = await CliProcess.RunAsync(Embedded("RouteIQ__Runner__Slots", "abc"), "up", "--urls", $"http://127.0.0.1:{TestInfra.FreePort()}");
        AssertOneLine(result, "configuration error: RouteIQ:Runner:Slots: 'abc' is not a whole number");
    }

    [Fact]
    public async Task ANonLoopbackBindWithoutKeysIsOneLine()
    {
        var result = await CliProcess.RunAsync(Embedded(), "up", "--urls", $"http://0.0.0.0:{TestInfra.FreePort()}");
        AssertOneLine(result, "RouteIQ:Admin:ApiKeys");
    }

    [Fact]
    public async Task ASecondDemoOnBusyPortsIsOneLine()
    {
        // What a first demo holds: the admin port.
        using var held = new TcpListener(IPAddress.Loopback, 0);
        held.Start();
        var port = ((IPEndPoint)held.LocalEndpoint).Port;
        var result = await CliProcess.RunAsync(Embedded(), "demo", "--exit", "--urls", $"http://127.0.0.1:{port}");
        AssertOneLine(result, "address already in use");
        Assert.Contains("another routeiq", result.Stderr);
    }

    [Fact]
    public async Task ParseErrorsNameNoDotNetTypes()
    {
        var result = await CliProcess.RunAsync("train", "knn-router", "--wait-seconds", "soon");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--wait-seconds: 'soon' is not a whole number", result.Stderr);
        Assert.DoesNotContain("System.", result.Stderr);
        Assert.DoesNotContain("Nullable", result.Stderr);
    }
}
