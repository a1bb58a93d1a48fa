using System.Net.Http.Json;
using System.Text.Json.Nodes;
using RouteIQ.Testing;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// Safe promotion as a user drives it, through the admin API's <c>/admin/rollouts</c> routes and the CLI verbs, on a
/// running <c>routeiq demo</c>: <c>roll --canary … --async</c> answers with the rollout, <c>rollouts watch</c> follows it to
/// <c>promoted</c> while traffic flows, <c>rollouts</c> lists it, and an <c>abort</c> of a second canary rolls it back.
/// </summary>
[Trait("Category", "Integration")]
public sealed class CanaryFromTheCliTests
{
    [Fact]
    public async Task A_canary_rolled_from_the_cli_is_watched_to_promotion_and_a_second_one_is_aborted()
    {
        await using var demo = await RunningDemo.StartAsync("cli-canary");
        var admin = demo.Admin;
        var stable = demo.Stable;

        // Two more versions to promote (knn-router does not roll on its own).
        foreach (var _ in new[] { 1, 2 })
        {
            var train = await CliProcess.RunAsync("--server", admin, "--json", "train", "knn-router");
            Assert.True(train.ExitCode == 0, train.ToString());
        }

        // Traffic on the stable endpoint for as long as the test runs: the steps need candidate requests.
        using var stop = new CancellationTokenSource();
        using var http = new HttpClient { BaseAddress = new Uri(stable) };
        var failures = 0;
        var traffic = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await http.PostAsJsonAsync("knn-router/invocations", new { query = "How do I sort a list in Python?" }, stop.Token);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref failures);
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }
        });

        try
        {
            var roll = await CliProcess.RunAsync("--server", admin, "--json", "roll", "knn-router", "2",
                // Both servers are the same kind on one loaded machine: the p99 rule is not what this test is about.
                "--canary", "50,100", "--step", "1s", "--min-requests", "20", "--max-p99-ratio", "50", "--async");
            Assert.True(roll.ExitCode == 7, roll.ToString());
            var id = JsonNode.Parse(roll.Stdout)!["job_id"]!.GetValue<string>();

            var watch = await CliProcess.RunAsync("--server", admin, "rollouts", "watch", id);
            Assert.True(watch.ExitCode == 0, watch.ToString());
            Assert.Contains("promoted", watch.Stdout);

            var list = JsonNode.Parse((await CliProcess.RunAsync("--server", admin, "--json", "rollouts", "--model", "knn-router")).Stdout)!;
            var listed = list["rollouts"]!.AsArray().Single(r => r!["rollout_id"]!.GetValue<string>() == id)!;
            Assert.Equal("promoted", listed["state"]!.GetValue<string>());
            Assert.Equal(2, listed["to_version"]!.GetValue<int>());

            // A second canary, aborted from the CLI mid-way: rolled back, version 2 still serves.
            var second = await CliProcess.RunAsync("--server", admin, "--json", "roll", "knn-router", "3",
                "--canary", "10,100", "--step", "600s", "--min-requests", "5", "--max-p99-ratio", "50", "--async");
            Assert.True(second.ExitCode == 7, second.ToString());
            var secondId = JsonNode.Parse(second.Stdout)!["job_id"]!.GetValue<string>();
            await TestInfra.WaitUntilAsync(async () =>
                    JsonNode.Parse((await CliProcess.RunAsync("--server", admin, "--json", "rollouts", "--model", "knn-router")).Stdout)!["rollouts"]!.AsArray()
                        .Any(r => r!["rollout_id"]!.GetValue<string>() == secondId && r["state"]!.GetValue<string>() == "canary"),
                TimeSpan.FromSeconds(60), "the second rollout to reach its canary step");
            var abort = await CliProcess.RunAsync("--server", admin, "rollouts", "abort", secondId);
            Assert.True(abort.ExitCode == 0, abort.ToString());
            var shown = JsonNode.Parse((await CliProcess.RunAsync("--server", admin, "--json", "rollouts", "watch", secondId)).Stdout)!;
            Assert.Contains(shown["state"]!.GetValue<string>(), new[] { "aborted", "rolled_back" });
            using var after = await http.PostAsJsonAsync("knn-router/invocations", new { query = "still version 2?" });
            Assert.Equal("2", after.Headers.GetValues("X-RouteIQ-Model-Version").Single());
        }
        finally
        {
            await stop.CancelAsync();
            await traffic;
        }
        Assert.Equal(0, failures);
    }
}
