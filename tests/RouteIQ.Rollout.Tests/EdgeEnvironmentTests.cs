using RouteIQ.Rollout.Serving;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>
/// The stable endpoint's child process gets a minimal environment: nothing of rollout's own
/// (admin keys, signing keys, credentials) beyond PATH, HOME, locale and the dotnet root, plus its
/// runtime tuning and <c>RouteIQ:Rollout:EdgeEnvironment</c>.
/// </summary>
[Trait("Category", "Integration")]
public sealed class EdgeEnvironmentTests
{
    [Fact]
    public async Task The_edge_process_inherits_no_secret_of_rollouts_environment()
    {
        // A variable only this test sets, standing for RouteIQ__Admin__ApiKeys__0 and friends.
        var secretName = $"ROUTEIQ_EDGE_PROBE_SECRET_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(secretName, "admin-key-that-must-not-leak");
        try
        {
            Assert.DoesNotContain(secretName, EdgeProcess.ChildEnvironment(new Dictionary<string, string>()).Keys);

            var settings = await RolloutTestHost.SettingsAsync("edge-env");
            settings["RouteIQ:Rollout:EdgeEnvironment:EDGE_TUNING"] = "7";
            await using var host = await RolloutTestHost.StartAsync(settings);
            var pid = 0;
            await TestInfra.WaitUntilAsync(() =>
            {
                pid = EdgeProcesses.For(host.PublicUrl).FirstOrDefault();
                return Task.FromResult(pid != 0);
            }, TimeSpan.FromSeconds(30), "the edge process");

            var environ = (await File.ReadAllTextAsync($"/proc/{pid}/environ")).Split('\0', StringSplitOptions.RemoveEmptyEntries)
                .Select(e => e.Split('=', 2)).ToDictionary(e => e[0], e => e.Length > 1 ? e[1] : "");
            Assert.DoesNotContain(secretName, environ.Keys);
            Assert.DoesNotContain(environ.Values, v => v.Contains("admin-key-that-must-not-leak", StringComparison.Ordinal));
            Assert.DoesNotContain(environ.Keys, k => k.StartsWith("ConnectionStrings", StringComparison.OrdinalIgnoreCase)
                || k.StartsWith("RouteIQ__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("AWS_", StringComparison.Ordinal));
            Assert.Equal("7", environ["EDGE_TUNING"]);
            Assert.Equal("0", environ["DOTNET_gcServer"]);
            Assert.True(environ.ContainsKey("PATH"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(secretName, null);
        }
    }
}
