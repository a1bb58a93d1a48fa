using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Spectre.Console;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// Lists fit a terminal by shortening free text, never by wrapping or cutting ids; in a pipe
/// nothing is cut; <c>jobs</c> shows when a job finished and why it failed; <c>trainers</c> is a table.
/// Snapshots are exact strings.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TablesReadWellAtEightyColumnsTests
{
    private static readonly Guid FailedJob = Guid.Parse("0b7f3c2e-5a1d-4c8e-9f00-1234567890ab");
    private static readonly Guid DoneJob = Guid.Parse("7d1e2f30-4b5c-4d6e-8f90-abcdefabcdef");

    private static JsonArray JobsList() =>
    [
        CannedAdminApi.Job(FailedJob, "failed", error: new JsonObject { ["error"] = "trainer failed (exit=2)", ["reason"] = "exited with code 2: DATASET_PATH or ROUTEIQ_DATASET_URI is required" }, statusCode: 500),
        CannedAdminApi.Job(DoneJob, "succeeded"),
    ];

    private static string Render(int? width, bool wide = false)
    {
        var writer = new StringWriter();
        new Output(false, AnsiConsole.Console, wide, width, writer).Write(new JsonObject { ["jobs"] = JobsList() });
        return writer.ToString();
    }

    [Fact]
    public void JobsFitEightyColumnsWithIdsWhole()
    {
        var text = Render(80);
        foreach (var line in text.TrimEnd('\n').Split('\n'))
        {
            Assert.True(line.Length <= 80, $"{line.Length} columns: {line}");
        }
        Assert.Contains(FailedJob.ToString(), text);
        Assert.Contains(DoneJob.ToString(), text);
        Assert.Equal(3, text.TrimEnd('\n').Split('\n').Length);
    }

    [Fact]
    public void JobsSnapshotAtEightyColumns()
    {
        Assert.Equal(
            "JOB ID                                JOB         STATE      FINISHED     ERROR\n" +
            "0b7f3c2e-5a1d-4c8e-9f00-1234567890ab  knn-router  failed     12-01 01:03  train…\n" +
            "7d1e2f30-4b5c-4d6e-8f90-abcdefabcdef  knn-router  succeeded  12-01 01:03\n",
            Render(80));
    }

    [Fact]
    public void JobsSnapshotInAPipe()
    {
        Assert.Equal(
            "JOB ID                                JOB         STATE      FINISHED     ERROR\n" +
            "0b7f3c2e-5a1d-4c8e-9f00-1234567890ab  knn-router  failed     12-01 01:03  trainer failed (exit=2): exited with code 2: DATASET_PATH or ROUTEIQ_DATASET_URI is required\n" +
            "7d1e2f30-4b5c-4d6e-8f90-abcdefabcdef  knn-router  succeeded  12-01 01:03\n",
            Render(null));
    }

    [Fact]
    public void WideAddsColumnsAndCutsNothing()
    {
        var text = Render(80, wide: true);
        Assert.Contains("PHASE", text);
        Assert.Contains("node-a", text);
        Assert.Contains("DATASET_PATH or ROUTEIQ_DATASET_URI is required", text);
    }

    [Fact]
    public void RandomRowsNeverWrapNorCutIdsAtAnyWidth()
    {
        var random = new Random(Environment.TickCount);
        for (var round = 0; round < 200; round++)
        {
            var width = random.Next(40, 200);
            var ids = Enumerable.Range(0, random.Next(1, 6)).Select(_ => Guid.NewGuid().ToString()).ToList();
            var rows = ids.Select(id => new[] { id, new string('x', random.Next(0, 120)), new string('y', random.Next(0, 30)) }).ToList();
            var text = TextTable.Render([("ID", true), ("TEXT", false), ("MORE", false)], rows, width);
            var lines = text.TrimEnd('\n').Split('\n');
            Assert.Equal(rows.Count + 1, lines.Length);
            for (var i = 0; i < ids.Count; i++)
            {
                Assert.StartsWith(ids[i], lines[i + 1]);
                Assert.True(lines[i + 1].Length <= Math.Max(width, 36 + 2 + 8 + 2 + 8), $"width {width}: {lines[i + 1]}");
            }
        }
    }

    [Fact]
    public async Task PipedJobsAndTrainersAreRealTables()
    {
        await using var api = await CannedAdminApi.StartAsync(app =>
        {
            app.MapGet("/admin/jobs", () => CannedAdminApi.Json(new JsonObject { ["jobs"] = JobsList() }));
            app.MapGet("/admin/trainers", () => CannedAdminApi.Json(JsonNode.Parse("""
                {"path":"/srv/specs","trainers":{"knn-router":{"file":"/srv/specs/knn-router.yaml","line":1,"trainer_image":"routeiq/router-trainer:dev",
                "image_options":null,"serve_image":"routeiq/router-server:dev","serve_image_options":null,"timeout":1800,"gpus":null,
                "env":{"ROUTER_TYPE":"knn","K":"15","API_KEY":"***"},"model_name":"knn-router","command":null,"serve_command":null,"dataset":null,"auto_roll":false,"resources":null}},
                "errors":[{"file":"/srv/specs/bad.yaml","line":3,"column":5,"reason":"unknown key","message":"/srv/specs/bad.yaml:3:5: unknown key 'imgae'"}]}
                """)!));
        });
        var jobs = await CliProcess.RunAsync("--server", api.Url, "jobs");
        Assert.Equal(0, jobs.ExitCode);
        Assert.Equal(Render(null), jobs.Stdout);

        var trainers = await CliProcess.RunAsync("--server", api.Url, "trainers");
        Assert.Equal(0, trainers.ExitCode);
        Assert.Equal(
            "specs: /srv/specs\n" +
            "TRAINER     IMAGE                       SERVE IMAGE                TIMEOUT  GPUS  MODEL\n" +
            "knn-router  routeiq/router-trainer:dev  routeiq/router-server:dev  1800           knn-router\n",
            trainers.Stdout);
        Assert.Contains("spec error: /srv/specs/bad.yaml:3:5: unknown key 'imgae'", trainers.Stderr);
    }
}
