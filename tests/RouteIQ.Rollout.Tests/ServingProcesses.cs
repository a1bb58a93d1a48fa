namespace RouteIQ.Rollout.Tests;

/// <summary>Finds the local serving processes of a model by the environment rollout gave them.</summary>
public static class ServingProcesses
{
    /// <summary>The distinct <c>SERVE_PORT</c>s of live processes serving <paramref name="model"/>.</summary>
    public static IReadOnlySet<string> Ports(string model)
    {
        var ports = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, env) in Live("environ"))
        {
            if (env.Contains($"ROUTEIQ_MODEL={model}") && env.FirstOrDefault(e => e.StartsWith("SERVE_PORT=", StringComparison.Ordinal)) is { } port)
            {
                ports.Add(port["SERVE_PORT=".Length..]);
            }
        }
        return ports;
    }

    /// <summary>Live (not zombie) processes with one of their NUL-separated /proc files (<c>environ</c>, <c>cmdline</c>).</summary>
    public static IEnumerable<(int Pid, string[] Values)> Live(string procFile)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            string[] values;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                if (stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z'))
                {
                    continue;
                }
                values = File.ReadAllText(Path.Combine(dir, procFile)).Split('\0');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while we looked.
                continue;
            }
            yield return (pid, values);
        }
    }

    /// <summary>Kills (SIGKILL) the processes serving <paramref name="model"/> on <paramref name="port"/>.</summary>
    public static void Kill(string model, string port)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            try
            {
                var env = File.ReadAllText(Path.Combine(dir, "environ")).Split('\0');
                if (env.Contains($"ROUTEIQ_MODEL={model}") && env.Contains($"SERVE_PORT={port}"))
                {
                    using var process = System.Diagnostics.Process.GetProcessById(pid);
                    process.Kill();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
            {
                // Gone already.
            }
        }
    }
}
