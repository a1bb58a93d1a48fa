using System.Diagnostics;
using RouteIQ.Testing;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>A trainer-runner as its own OS process (<c>dotnet RouteIQ.TrainerRunner.dll</c>), so a test can <c>kill -9</c> it.</summary>
public sealed class RunnerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _logFile;

    private RunnerProcess(Process process, string url, string logFile)
    {
        _process = process;
        Url = url;
        _logFile = logFile;
    }

    public string Url { get; }

    public string Log => File.Exists(_logFile) ? File.ReadAllText(_logFile) : "";

    public static async Task<RunnerProcess> StartAsync(IDictionary<string, string> environment)
    {
        var dll = Path.Combine(RepositoryRoot(), "services", "trainer-runner", "bin",
#if DEBUG
            "Debug",
#else
            "Release",
#endif
            "net10.0", "RouteIQ.TrainerRunner.dll");
        Assert.True(File.Exists(dll), $"{dll} is built with this test project");
        var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var logFile = Path.Combine(TestInfra.TempDirectory("runner-process"), "runner.log");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        psi.Environment["ASPNETCORE_URLS"] = url;
        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the runner");
        var writer = TextWriter.Synchronized(new StreamWriter(logFile) { AutoFlush = true });
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var runner = new RunnerProcess(process, url, logFile);

        using var http = new HttpClient();
        await TestInfra.WaitUntilAsync(async () =>
        {
            Assert.False(process.HasExited, $"the runner exited with {(process.HasExited ? process.ExitCode : 0)}:\n{runner.Log}");
            try
            {
                return (await http.GetAsync($"{url}/health/live")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), "the runner process to answer");
        return runner;
    }

    /// <summary><c>kill -9</c>: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RouteIQ.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("repository root (RouteIQ.sln) not found");
    }
}
