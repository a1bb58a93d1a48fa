using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using RouteIQ.Testing;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// The README's exit-code sentence ("Exit codes: `0` ok, `1` the job failed, …") is the table the
/// CLI must follow: each code is read from README.md and a real run of the CLI must end with it.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class ExitCodesFollowTheReadmeTableTests
{
    [GeneratedRegex(@"`(?<code>\d)` (?<meaning>[^,`.]+)")]
    private static partial Regex CodeEntry();

    private static readonly Dictionary<string, Guid> Jobs = new()
    {
        ["ok"] = Guid.NewGuid(), ["failed"] = Guid.NewGuid(), ["cancelled"] = Guid.NewGuid(),
        ["rejected"] = Guid.NewGuid(), ["running"] = Guid.NewGuid(),
    };

    /// <summary>Code per meaning, from README.md's "Exit codes:" sentence.</summary>
    internal static Dictionary<string, int> ReadmeTable()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        var start = readme.IndexOf("Exit codes:", StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no 'Exit codes:' sentence");
        var sentence = readme[start..readme.IndexOf(").", start, StringComparison.Ordinal)];
        var table = new Dictionary<string, int>();
        foreach (Match m in CodeEntry().Matches(sentence))
        {
            var meaning = m.Groups["meaning"].Value.Trim();
            var key = meaning switch
            {
                "ok" => "ok",
                _ when meaning.Contains("failed", StringComparison.Ordinal) => "job failed",
                _ when meaning.Contains("usage", StringComparison.Ordinal) => "usage",
                _ when meaning.Contains("unreachable", StringComparison.Ordinal) => "unreachable",
                _ when meaning.Contains("unauthorized", StringComparison.Ordinal) => "unauthorized",
                _ when meaning.Contains("rejected", StringComparison.Ordinal) => "rejected",
                _ when meaning.Contains("cancelled", StringComparison.Ordinal) => "cancelled",
                _ when meaning.Contains("still running", StringComparison.Ordinal) => "still running",
                _ => meaning,
            };
            table[key] = int.Parse(m.Groups["code"].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
        return table;
    }

    [Fact]
    public void ReadmeListsEveryCodeTheCliUses()
    {
        var table = ReadmeTable();
        Assert.Equal(ExitCodes.Ok, table["ok"]);
        Assert.Equal(ExitCodes.JobFailed, table["job failed"]);
        Assert.Equal(ExitCodes.Usage, table["usage"]);
        Assert.Equal(ExitCodes.Unreachable, table["unreachable"]);
        Assert.Equal(ExitCodes.Unauthorized, table["unauthorized"]);
        Assert.Equal(ExitCodes.Rejected, table["rejected"]);
        Assert.Equal(ExitCodes.Cancelled, table["cancelled"]);
        Assert.Equal(ExitCodes.StillRunning, table["still running"]);
    }

    [Fact]
    public void EveryStatusTheReadmeCallsRejectedExitsAsRejected()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        var statuses = Regex.Match(readme, @"request rejected \((?<list>[\d/]+)").Groups["list"].Value.Split('/');
        Assert.NotEmpty(statuses);
        foreach (var status in statuses)
        {
            Assert.Equal(ReadmeTable()["rejected"], ExitCodes.FromStatus(int.Parse(status, System.Globalization.CultureInfo.InvariantCulture)));
            Assert.Equal(ReadmeTable()["rejected"], ExitCodes.FromJob("failed", int.Parse(status, System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    public static TheoryData<string, string[]> Runs() => new()
    {
        { "ok", ["status"] },
        { "ok", ["train", "ok"] },
        { "job failed", ["train", "failed"] },
        { "cancelled", ["train", "cancelled"] },
        { "rejected", ["roll", "knn-router", "@nope"] },
        { "rejected", ["jobs", "show", Guid.NewGuid().ToString()] },
        { "rejected", ["jobs", "show", "not-a-job"] },
        { "rejected", ["rollback"] },
        { "rejected", ["train", "missing"] },
        { "still running", ["train", "running", "--async"] },
        { "still running", ["train", "running", "--wait-seconds", "1"] },
        { "usage", ["train", "ok", "--wait-seconds", "abc"] },
        { "usage", ["train"] },
        { "usage", ["roll", "knn-router"] },
        { "usage", ["--server", "127.0.0.1:8080", "status"] },
        { "usage", ["frobnicate"] },
        { "unauthorized", ["deployments"] },
    };

    [Theory]
    [MemberData(nameof(Runs))]
    public async Task TheCliExitsWithTheReadmesCode(string meaning, string[] args)
    {
        await using var api = await StartApiAsync();
        var result = await CliProcess.RunAsync([.. args[0] == "--server" ? [] : new[] { "--server", api.Url }, .. args]);
        Assert.True(ReadmeTable()[meaning] == result.ExitCode, $"expected '{meaning}' ({ReadmeTable()[meaning]}):\n{result}");
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("System.", result.Stderr);
    }

    [Fact]
    public async Task AnUnreachableServerExitsAsUnreachable()
    {
        var result = await CliProcess.RunAsync("--server", $"http://127.0.0.1:{TestInfra.FreePort()}", "status");
        Assert.True(ReadmeTable()["unreachable"] == result.ExitCode, result.ToString());
    }

    private static Task<CannedAdminApi> StartApiAsync() => CannedAdminApi.StartAsync(app =>
    {
        app.MapGet("/status", () => CannedAdminApi.Json(new JsonObject { ["active"] = false }));
        app.MapGet("/admin/trainers", () => CannedAdminApi.Json(new JsonObject { ["trainers"] = new JsonObject() }));
        app.MapPost("/admin/train/{trainer}", (string trainer) => Jobs.TryGetValue(trainer, out var id)
            ? CannedAdminApi.Accepted(id)
            : CannedAdminApi.Problem(404, "trainer spec not found", new JsonObject { ["trainer"] = trainer }));
        app.MapPost("/admin/roll", () => CannedAdminApi.Accepted(Jobs["rejected"], "roll"));
        app.MapPost("/admin/rollback", () => CannedAdminApi.Problem(409, "no previous deployment recorded for rollback"));
        app.MapGet("/admin/deployments", () => CannedAdminApi.Problem(401, "unauthorized"));
        app.MapGet("/admin/jobs/{id:guid}/logs", () => Results.Text("line 1\nline 2\n"));
        app.MapGet("/admin/jobs/{id:guid}", (Guid id) =>
        {
            var name = Jobs.FirstOrDefault(j => j.Value == id).Key;
            return name switch
            {
                "ok" => CannedAdminApi.Json(CannedAdminApi.Job(id, "succeeded")),
                "failed" => CannedAdminApi.Json(CannedAdminApi.Job(id, "failed", error: new JsonObject { ["error"] = "trainer failed (exit=2)" }, statusCode: 500)),
                "cancelled" => CannedAdminApi.Json(CannedAdminApi.Job(id, "cancelled", error: new JsonObject { ["error"] = "job cancelled" }, statusCode: 409)),
                "rejected" => CannedAdminApi.Json(CannedAdminApi.Job(id, "failed", "roll", new JsonObject { ["error"] = "alias not found" }, 404)),
                "running" => CannedAdminApi.Json(CannedAdminApi.Job(id, "running", phase: "training")),
                _ => CannedAdminApi.Problem(404, "job not found", new JsonObject { ["job_id"] = id }),
            };
        });
    });
}

/// <summary>The checkout the tests run from (README.md beside RouteIQ.sln).</summary>
[Trait("Category", "Integration")]
public static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RouteIQ.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("RouteIQ.sln not found above " + AppContext.BaseDirectory);
    }
}
