using System.Diagnostics;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>The rollout service as its own OS process (<c>dotnet RouteIQ.Rollout.dll</c>), so a test can kill it.</summary>
public sealed class RolloutProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _logFile;

    private RolloutProcess(Process process, string logFile, string url)
    {
        _process = process;
        _logFile = logFile;
        Url = url;
    }

    public string Url { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public static string DllPath
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RouteIQ.sln")))
            {
                dir = dir.Parent;
            }
            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}") ? "Release" : "Debug";
            var path = Path.Combine(dir?.FullName ?? throw new InvalidOperationException("RouteIQ.sln not found above the test directory"),
                "services", "rollout", "bin", configuration, "net10.0", "RouteIQ.Rollout.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("build services/rollout first", path);
        }
    }

    public static async Task<RolloutProcess> StartAsync(IDictionary<string, string?> settings, string logDirectory, string? crashAt = null)
    {
        var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var logFile = Path.Combine(logDirectory, $"rollout-{Guid.NewGuid():N}.log");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(DllPath);
        foreach (var (key, value) in settings)
        {
            psi.Environment[key.Replace(":", "__")] = value;
        }
        psi.Environment["ASPNETCORE_URLS"] = url;
        psi.Environment["Logging__LogLevel__Default"] = "Information";
        psi.Environment["RouteIQ__Rollout__CrashAt"] = crashAt ?? "";
        var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dotnet");
        var log = new StreamWriter(logFile) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var started = new RolloutProcess(process, logFile, url);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await TestInfra.WaitUntilAsync(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"rollout exited with {process.ExitCode}: {started.LogTail()}");
            }
            try
            {
                using var response = await http.GetAsync($"{url}/health/ready");
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(90), "rollout process ready");
        return started;
    }

    public string LogTail()
    {
        try
        {
            using var stream = new FileStream(_logFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            var text = new StreamReader(stream).ReadToEnd();
            return text.Length > 3000 ? text[^3000..] : text;
        }
        catch (IOException)
        {
            return "";
        }
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public void KillHard() => _process.Kill();

    /// <summary>SIGTERM, then wait for a clean exit.</summary>
    public async Task<int> StopAsync()
    {
        await TestInfra.RunAsync("kill", "-TERM", Pid.ToString());
        return await WaitForExitAsync(TimeSpan.FromSeconds(60));
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
}
