using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// Waiting verbs: <c>--wait-seconds</c> bounds the wait (not the training), Ctrl-C says the job goes
/// on and how to cancel it, the live line shows the phase, and a failed job prints its error and
/// the end of its log (a timeout reads "timed out after N s").
/// </summary>
[Trait("Category", "Integration")]
public sealed class WaitingSaysWhatGoesOnTests
{
    private static readonly Guid Running = Guid.NewGuid();
    private static readonly Guid TimedOut = Guid.NewGuid();

    private static Task<CannedAdminApi> StartApiAsync() => CannedAdminApi.StartAsync(app =>
    {
        app.MapGet("/admin/trainers", () => CannedAdminApi.Json(new JsonObject { ["trainers"] = new JsonObject() }));
        app.MapPost("/admin/train/{trainer}", (string trainer) => CannedAdminApi.Accepted(trainer == "slow" ? TimedOut : Running));
        app.MapPost("/admin/train_then_roll/{trainer}", () => CannedAdminApi.Accepted(Running));
        app.MapGet("/admin/jobs/{id:guid}", (Guid id) => id == Running
            ? CannedAdminApi.Json(CannedAdminApi.Job(id, "running", phase: "rolling"))
            : CannedAdminApi.Json(CannedAdminApi.Job(id, "failed", error: new JsonObject
            {
                ["error"] = "trainer failed (exit=124)", ["reason"] = "timed out after 5 s (exit=124)", ["timed_out"] = true, ["exit_code"] = 124,
            }, statusCode: 500)));
        app.MapGet("/admin/jobs/{id:guid}/logs", () => Results.Text(string.Join('\n', Enumerable.Range(1, 60).Select(i => $"epoch {i}")) + "\n"));
    });

    [Fact]
    public async Task WaitSecondsIsAWaitNotTheTrainingTimeout()
    {
        await using var api = await StartApiAsync();
        var result = await CliProcess.RunAsync("--server", api.Url, "train", "knn-router", "--wait-seconds", "1");
        Assert.True(result.ExitCode == 7, result.ToString());
        Assert.Contains($"still running after 1 s", result.Stderr);
        Assert.Contains($"routeiq jobs cancel {Running}", result.Stderr);
        var post = api.Requests.First(r => r.Method == "POST");
        Assert.DoesNotContain("wait_seconds", post.Body);

        var withTimeout = await CliProcess.RunAsync("--server", api.Url, "train", "knn-router", "--timeout-seconds", "600", "--async");
        Assert.Equal(7, withTimeout.ExitCode);
        Assert.Contains("\"wait_seconds\":600", api.Requests.Last(r => r.Method == "POST").Body);
    }

    [Fact]
    public async Task AFailedJobPrintsItsErrorAndTheEndOfItsLog()
    {
        await using var api = await StartApiAsync();
        var result = await CliProcess.RunAsync("--server", api.Url, "train", "slow");
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains($"job {TimedOut} failed: timed out after 5 s", result.Stderr);
        Assert.Contains("epoch 60", result.Stderr);
        Assert.Contains("epoch 36", result.Stderr);
        Assert.DoesNotContain("epoch 35\n", result.Stderr);
    }

    [Fact]
    public async Task CtrlCWhileWaitingSaysTheJobGoesOnAndHowToCancelIt()
    {
        await using var api = await StartApiAsync();
        var result = await CliProcess.RunInTerminalAndInterruptAsync("rolling", "--server", api.Url, "train", "knn-router", "--then-roll");
        Assert.True(result.ExitCode == 7, result.ToString());
        Assert.Contains("stopped waiting (Ctrl-C)", result.Stdout);
        Assert.Contains($"job {Running} goes on", result.Stdout);
        Assert.Contains($"routeiq jobs cancel {Running}", result.Stdout);
        // The live line showed the phase of train --then-roll.
        Assert.Contains("running · rolling", result.Stdout);
    }
}
