using System.Diagnostics;
using System.Globalization;

namespace RouteIQ.Bench.Rollout;

/// <summary>Latencies of one load phase.</summary>
public sealed record PhaseResult(string Name, double[] LatenciesMs, int Errors, double AchievedRate)
{
    public double Percentile(double p)
    {
        if (LatenciesMs.Length == 0)
        {
            return double.NaN;
        }
        var sorted = LatenciesMs.Order().ToArray();
        var index = (int)Math.Ceiling(p / 100.0 * sorted.Length) - 1;
        return sorted[Math.Clamp(index, 0, sorted.Length - 1)];
    }
}

/// <summary>
/// Open-loop load at a fixed rate: requests are sent on a schedule (one every 1/rate s)
/// whether or not earlier ones finished, so a slow response cannot lower the offered load.
/// Latency is measured from the send to the end of the response body.
/// </summary>
public sealed class LoadGenerator(HttpClient client)
{
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        MaxConnectionsPerServer = 512,
    }) { Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>
    /// <c>load --url U --rate R --seconds S --warmup W</c>: one phase from a process of its own (as
    /// real clients are), after a warm-up against the same URL; prints one <c>RESULT</c> line.
    /// </summary>
    public static async Task<int> RunProcessAsync(string[] args)
    {
        string Value(string name) => args[Array.IndexOf(args, name) + 1];
        var url = Value("--url");
        var rate = int.Parse(Value("--rate"), CultureInfo.InvariantCulture);
        var seconds = double.Parse(Value("--seconds"), CultureInfo.InvariantCulture);
        var warmup = double.Parse(Value("--warmup"), CultureInfo.InvariantCulture);
        using var client = CreateClient();
        var load = new LoadGenerator(client);
        await load.RunAsync("warmup", url, rate, TimeSpan.FromSeconds(warmup));
        var result = await load.RunAsync("measured", url, rate, TimeSpan.FromSeconds(seconds));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT {result.Errors} {result.AchievedRate:0.###} {string.Join(',', result.LatenciesMs.Select(l => l.ToString("0.####", CultureInfo.InvariantCulture)))}"));
        return 0;
    }

    /// <summary>Runs one phase in a child process started with <paramref name="selfCommand"/> + <c>load …</c>.</summary>
    public static async Task<PhaseResult> RunInChildAsync(IReadOnlyList<string> selfCommand, string name, string url, int rate, TimeSpan duration, TimeSpan warmup)
    {
        var start = new ProcessStartInfo(selfCommand[0]) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in selfCommand.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var arg in new[] { "load", "--url", url, "--rate", rate.ToString(CultureInfo.InvariantCulture),
                     "--seconds", duration.TotalSeconds.ToString(CultureInfo.InvariantCulture), "--warmup", warmup.TotalSeconds.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var line = output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("RESULT ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"load process exited {process.ExitCode} without a result: {output}");
        var parts = line.Split(' ');
        var latencies = parts.Length > 3 && parts[3].Length > 0
            ? parts[3].Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()
            : [];
        return new PhaseResult(name, latencies, int.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    private static readonly byte[] Body = """{"query":"which model should answer this?"}"""u8.ToArray();

    public Task<PhaseResult> RunAsync(string name, string url, int rate, TimeSpan duration, Action<int>? onAnswer = null)
        => Task.Run(() => RunCoreAsync(url, rate, duration, onAnswer, name));

    private async Task<PhaseResult> RunCoreAsync(string url, int rate, TimeSpan duration, Action<int>? onAnswer, string name)
    {
        var total = (int)(rate * duration.TotalSeconds);
        var latencies = new double[total];
        var errors = 0;
        var tasks = new Task[total];
        var start = Stopwatch.GetTimestamp();
        var sent = 0;
        // A 1 ms tick sends every request that is due by then: no core is burnt spinning, which
        // on a 2-core machine would starve the proxy being measured.
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        while (sent < total)
        {
            var due = Math.Min(total, (int)(Stopwatch.GetElapsedTime(start).TotalSeconds * rate) + 1);
            for (; sent < due; sent++)
            {
                var index = sent;
                tasks[index] = SendAsync(url, onAnswer).ContinueWith(t =>
                {
                    if (t.IsCompletedSuccessfully && t.Result >= 0)
                    {
                        latencies[index] = t.Result;
                    }
                    else
                    {
                        latencies[index] = -1;
                        Interlocked.Increment(ref errors);
                    }
                }, TaskScheduler.Default);
            }
            await tick.WaitForNextTickAsync();
        }
        await Task.WhenAll(tasks);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        return new PhaseResult(name, latencies.Where(l => l >= 0).ToArray(), errors, total / elapsed);
    }

    private async Task<double> SendAsync(string url, Action<int>? onAnswer)
    {
        var sent = Stopwatch.GetTimestamp();
        using var content = new ByteArrayContent(Body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await client.PostAsync(url, content);
        var payload = await response.Content.ReadAsByteArrayAsync();
        var latency = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
        if (!response.IsSuccessStatusCode)
        {
            return -1;
        }
        if (onAnswer is not null)
        {
            // {"version":N}
            var text = System.Text.Encoding.UTF8.GetString(payload);
            onAnswer(int.Parse(text[(text.IndexOf(':') + 1)..text.IndexOf('}')]));
        }
        return latency;
    }
}
