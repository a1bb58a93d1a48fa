using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>The rollout service as its own OS process (<c>dotnet RouteIQ.Rollout.dll</c>), so a test can kill it.</summary>
public sealed class RolloutProcess : IAsyncDisposable
{
    private readonly ServiceProcess _process;

    private RolloutProcess(ServiceProcess process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }
    public int Pid => _process.Pid;
    public bool HasExited => _process.HasExited;

    public static async Task<RolloutProcess> StartAsync(IDictionary<string, string?> settings, string logDirectory, string? crashAt = null)
    {
        var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var env = settings.ToDictionary(s => s.Key.Replace(":", "__"), s => s.Value);
        env["ASPNETCORE_URLS"] = url;
        env["RouteIQ__Rollout__CrashAt"] = crashAt ?? "";
        var process = ServiceProcess.Start("RouteIQ.Rollout.dll", env);
        await process.WaitForHttpOkAsync($"{url}/health/ready", TimeSpan.FromSeconds(90));
        return new RolloutProcess(process, url);
    }

    public string LogTail()
    {
        var text = _process.Output;
        return text.Length > 3000 ? text[^3000..] : text;
    }

    public Task<int> WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(timeout);

    public void KillHard() => _process.Kill();

    /// <summary>SIGTERM, then wait for a clean exit.</summary>
    public Task<int> StopAsync() => _process.TerminateAsync(TimeSpan.FromSeconds(60));

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
