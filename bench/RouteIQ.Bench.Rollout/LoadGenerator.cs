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
    /// <c>load --url U [--url U2 --slice S] --rate R --seconds S --warmup W</c>: one phase from a
    /// process of its own (as real callers are), after a warm-up against each URL; prints one
    /// <c>RESULT name errors rate latencies</c> line per URL. With two URLs the phase alternates
    /// between them every <c>--slice</c> seconds (each at the full rate while its slice runs), so a
    /// machine that slows down or speeds up during the phase moves both sets of latencies alike.
    /// </summary>
    public static async Task<int> RunProcessAsync(string[] args)
    {
        string Value(string name) => args[Array.IndexOf(args, name) + 1];
        var urls = args.Select((a, i) => (a, i)).Where(x => x.a == "--url").Select(x => args[x.i + 1]).ToArray();
        var rate = int.Parse(Value("--rate"), CultureInfo.InvariantCulture);
        var seconds = double.Parse(Value("--seconds"), CultureInfo.InvariantCulture);
        var warmup = double.Parse(Value("--warmup"), CultureInfo.InvariantCulture);
        var slice = args.Contains("--slice") ? double.Parse(Value("--slice"), CultureInfo.InvariantCulture) : seconds;
        using var client = CreateClient();
        var load = new LoadGenerator(client);
        foreach (var url in urls)
        {
            await load.RunAsync("warmup", url, rate, TimeSpan.FromSeconds(warmup));
        }
        var latencies = urls.Select(_ => new List<double>()).ToArray();
        var errors = new int[urls.Length];
        var elapsed = new double[urls.Length];
        var slices = Math.Max(1, (int)Math.Round(seconds / slice));
        for (var k = 0; k < slices * urls.Length; k++)
        {
            var target = k % urls.Length;
            var result = await load.RunAsync("measured", urls[target], rate, TimeSpan.FromSeconds(slice));
            latencies[target].AddRange(result.LatenciesMs);
            errors[target] += result.Errors;
            elapsed[target] += (result.LatenciesMs.Length + result.Errors) / result.AchievedRate;
        }
        for (var i = 0; i < urls.Length; i++)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"RESULT {i} {errors[i]} {(latencies[i].Count + errors[i]) / elapsed[i]:0.###} {string.Join(',', latencies[i].Select(l => l.ToString("0.####", CultureInfo.InvariantCulture)))}"));
        }
        return 0;
    }

    /// <summary>Runs one phase in a child process started with <paramref name="selfCommand"/> + <c>load …</c>.</summary>
    public static async Task<PhaseResult> RunInChildAsync(IReadOnlyList<string> selfCommand, string name, string url, int rate, TimeSpan duration, TimeSpan warmup)
        => (await RunInChildAsync(selfCommand, [(name, url)], rate, duration, warmup, duration))[0];

    /// <summary>
    /// Runs one phase in a child process started with <paramref name="selfCommand"/> + <c>load …</c>,
    /// alternating between the targets every <paramref name="slice"/>; one result per target.
    /// </summary>
    public static async Task<PhaseResult[]> RunInChildAsync(IReadOnlyList<string> selfCommand, IReadOnlyList<(string Name, string Url)> targets,
        int rate, TimeSpan durationEach, TimeSpan warmup, TimeSpan slice)
    {
        var start = new ProcessStartInfo(selfCommand[0]) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in selfCommand.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }
        start.ArgumentList.Add("load");
        foreach (var (_, url) in targets)
        {
            start.ArgumentList.Add("--url");
            start.ArgumentList.Add(url);
        }
        foreach (var arg in new[] { "--rate", rate.ToString(CultureInfo.InvariantCulture),
                     "--seconds", durationEach.TotalSeconds.ToString(CultureInfo.InvariantCulture), "--warmup", warmup.TotalSeconds.ToString(CultureInfo.InvariantCulture),
                     "--slice", slice.TotalSeconds.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var lines = output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("RESULT ", StringComparison.Ordinal)).ToList();
        if (lines.Count != targets.Count)
        {
            throw new InvalidOperationException($"load process exited {process.ExitCode} with {lines.Count} of {targets.Count} results: {output}");
        }
        return lines.Select(line =>
        {
            var parts = line.Split(' ');
            var latencies = parts.Length > 4 && parts[4].Length > 0
                ? parts[4].Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()
                : [];
            var target = int.Parse(parts[1], CultureInfo.InvariantCulture);
            return new PhaseResult(targets[target].Name, latencies, int.Parse(parts[2], CultureInfo.InvariantCulture), double.Parse(parts[3], CultureInfo.InvariantCulture));
        }).ToArray();
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
