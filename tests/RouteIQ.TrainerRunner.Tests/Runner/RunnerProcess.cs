using RouteIQ.Testing;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>A trainer-runner as its own OS process (<c>dotnet RouteIQ.TrainerRunner.dll</c>), so a test can <c>kill -9</c> it.</summary>
public sealed class RunnerProcess : IAsyncDisposable
{
    private readonly ServiceProcess _process;

    private RunnerProcess(ServiceProcess process, string url)
    {
        _process = process;
        Url = url;
    }

    public string Url { get; }

    public string Log => _process.Output;

    public static async Task<RunnerProcess> StartAsync(IDictionary<string, string> environment)
    {
        var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var env = environment.ToDictionary(e => e.Key, e => (string?)e.Value);
        env["ASPNETCORE_URLS"] = url;
        var process = ServiceProcess.Start("RouteIQ.TrainerRunner.dll", env);
        await process.WaitForHttpOkAsync($"{url}/health/live", TimeSpan.FromSeconds(60));
        return new RunnerProcess(process, url);
    }

    /// <summary><c>kill -9</c>: no shutdown code runs.</summary>
    public Task KillAsync()
    {
        _process.Kill();
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
