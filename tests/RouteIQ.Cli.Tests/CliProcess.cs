using System.Diagnostics;
using System.Text;

namespace RouteIQ.Cli.Tests;

/// <summary>What one <c>routeiq</c> run printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>Runs <c>dotnet routeiq.dll …</c> from the test's output folder, stdout and stderr apart, stdout a pipe.</summary>
public static class CliProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "routeiq.dll");

    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(new Dictionary<string, string?>(), args);

    public static async Task<CliResult> RunAsync(IReadOnlyDictionary<string, string?> environment, params string[] args)
    {
        RouteIQ.Testing.TestInfra.RequireIntegration("a child process (the CLI)");
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        psi.ArgumentList.Add(Dll);
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment.Remove("SHELL"); // as under CI: script falls back to /bin/sh
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment.Remove("ROUTEIQ_SERVER");
        psi.Environment.Remove("ROUTEIQ_API_KEY");
        foreach (var (key, value) in environment)
        {
            if (value is null)
            {
                psi.Environment.Remove(key);
            }
            else
            {
                psi.Environment[key] = value;
            }
        }
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"routeiq {string.Join(' ', args)} did not end within 90 s:\n{await stdout}\n{await stderr}");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// Runs the CLI inside a pseudo-terminal (util-linux <c>script</c>), waits until its output
    /// contains <paramref name="readyText"/>, then types Ctrl-C into the terminal.
    /// </summary>
    public static async Task<CliResult> RunInTerminalAndInterruptAsync(string readyText, params string[] args)
    {
        RouteIQ.Testing.TestInfra.RequireIntegration("a child process (the CLI in a terminal)");
        // exec: script runs the command through $SHELL, and a non-interactive dash that stays as the parent dies of the
        // same SIGINT and makes script exit 130 whatever the CLI returns.
        var command = "exec dotnet " + string.Join(' ', new[] { Dll }.Concat(args).Select(a => "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"));
        var psi = new ProcessStartInfo("script")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var a in new[] { "-q", "-f", "-e", "-c", command, "/dev/null" })
        {
            psi.ArgumentList.Add(a);
        }
        psi.Environment.Remove("SHELL"); // as under CI: script falls back to /bin/sh
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment.Remove("ROUTEIQ_SERVER");
        psi.Environment.Remove("ROUTEIQ_API_KEY");
        using var process = Process.Start(psi)!;
        var output = new StringBuilder();
        var gate = new object();
        var reading = Task.Run(async () =>
        {
            var buffer = new char[4096];
            int n;
            while ((n = await process.StandardOutput.ReadAsync(buffer)) > 0)
            {
                lock (gate)
                {
                    output.Append(buffer, 0, n);
                }
            }
        });
        string Text()
        {
            lock (gate)
            {
                return output.ToString();
            }
        }
        await RouteIQ.Testing.TestInfra.WaitUntilAsync(() => Task.FromResult(Text().Contains(readyText, StringComparison.Ordinal) || process.HasExited),
            TimeSpan.FromSeconds(60), $"'{readyText}' in the terminal");
        await process.StandardInput.WriteAsync('\u0003');
        await process.StandardInput.FlushAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
        await reading;
        return new CliResult(process.ExitCode, Text(), await process.StandardError.ReadToEndAsync());
    }
}
