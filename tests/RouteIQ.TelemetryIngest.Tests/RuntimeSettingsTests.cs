using System.Text.Json;
using RouteIQ.TelemetryIngest;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>The runtime settings telemetry-ingest ships with (see docs/operations.md).</summary>
public sealed class RuntimeSettingsTests
{
    [Fact]
    public void The_service_ships_with_workstation_gc_and_thread_pool_workers_that_do_not_spin()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "RouteIQ.TelemetryIngest.runtimeconfig.json");
        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var properties = config.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.False(properties.GetProperty("System.GC.Server").GetBoolean());
        Assert.Equal("0", properties.GetProperty("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit").ToString());
    }

    [Theory]
    [InlineData(null, "1")]
    [InlineData("", "1")]
    [InlineData("0", "0")]
    [InlineData("1", "1")]
    public void Inline_socket_completions_are_turned_on_unless_the_operator_chose(string? configured, string expected)
    {
        // A dictionary stands in for the process environment: .NET reads the real variable once,
        // when this test process's first socket starts, so the test must not change it.
        var environment = new Dictionary<string, string?> { [SocketRuntime.InlineCompletionsVariable] = configured };

        var applied = SocketRuntime.Apply(name => environment.GetValueOrDefault(name), (name, value) => environment[name] = value);

        Assert.Equal(expected, applied);
        Assert.Equal(configured is null or "" ? "1" : configured, environment[SocketRuntime.InlineCompletionsVariable]);
    }
}
