using RouteIQ.Testing;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// scripts/doctest.sh, which scripts/test.sh runs over README.md and docs/*.md: a documented
/// command that no longer works fails it, and so does a bash block nobody marked.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DocTestRunnerCatchesDriftTests
{
    private static async Task<CliResult> RunAsync(string markdown)
    {
        var file = Path.Combine(TestInfra.TempDirectory("doctest"), "README.md");
        await File.WriteAllTextAsync(file, markdown);
        var psi = new System.Diagnostics.ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(Repository.Root, "scripts", "doctest.sh"));
        psi.ArgumentList.Add(file);
        using var process = System.Diagnostics.Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task ADeliberatelyBrokenCommandFailsTheRun()
    {
        var result = await RunAsync("""
            # Quick start

            <!-- doctest: run -->
            ```bash
            echo the first command works
            routeiq-no-such-command --server http://127.0.0.1:1 status
            ```
            """);
        Assert.True(result.ExitCode != 0, result.ToString());
        Assert.Contains("FAIL   ", result.Stderr);
        Assert.Contains("README.md:4: exit 127", result.Stderr);
        Assert.Contains("routeiq-no-such-command: command not found", result.Stderr);
    }

    [Fact]
    public async Task WorkingBlocksPassAndBrokenSyntaxFails()
    {
        var ok = await RunAsync("""
            <!-- doctest: run -->
            ```bash
            test "$(printf 'a\nb\n' | wc -l)" = 2
            ```

            <!-- doctest: syntax -->
            ```bash
            docker compose pull   # never run here, only parsed
            ```
            """);
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("1 block(s) run, 1 syntax-checked, 0 failed", ok.Stderr);

        var broken = await RunAsync("""
            <!-- doctest: syntax -->
            ```bash
            if true; then echo missing fi
            ```
            """);
        Assert.True(broken.ExitCode != 0, broken.ToString());
        Assert.Contains("README.md:2", broken.Stderr);
    }

    [Fact]
    public async Task AnUnmarkedBashBlockFails()
    {
        var result = await RunAsync("""
            Some prose.

            ```bash
            echo nobody said whether this runs
            ```
            """);
        Assert.True(result.ExitCode != 0, result.ToString());
        Assert.Contains("a bash block without <!-- doctest: run -->", result.Stderr);
    }

    [Fact]
    public async Task EveryBashBlockOfTheReadmeAndDocsIsMarked()
    {
        var unmarked = new List<string>();
        foreach (var file in new[] { Path.Combine(Repository.Root, "README.md") }.Concat(Directory.GetFiles(Path.Combine(Repository.Root, "docs"), "*.md")))
        {
            var lines = await File.ReadAllLinesAsync(file);
            for (var i = 0; i < lines.Length; i++)
            {
                if (lines[i].Trim() is "```bash" or "```sh" or "```shell")
                {
                    var previous = lines.Take(i).LastOrDefault(l => l.Trim().Length > 0)?.Trim() ?? "";
                    if (previous is not ("<!-- doctest: run -->" or "<!-- doctest: syntax -->"))
                    {
                        unmarked.Add($"{Path.GetFileName(file)}:{i + 1}");
                    }
                }
            }
        }
        Assert.True(unmarked.Count == 0, "unmarked bash blocks: " + string.Join(", ", unmarked));
    }
}
