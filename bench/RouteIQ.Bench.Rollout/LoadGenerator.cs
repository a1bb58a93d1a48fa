using System.Diagnostics;

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
    private static readonly byte[] Body = """{"query":"which model should answer this?"}"""u8.ToArray();

    public async Task<PhaseResult> RunAsync(string name, string url, int rate, TimeSpan duration, Action<int>? onAnswer = null)
    {
        var total = (int)(rate * duration.TotalSeconds);
        var latencies = new double[total];
        var errors = 0;
        var tasks = new Task[total];
        var interval = Stopwatch.Frequency / (double)rate;
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < total; i++)
        {
            var due = start + (long)(i * interval);
            while (Stopwatch.GetTimestamp() < due)
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.FromMilliseconds(2))
                {
                    await Task.Delay(wait - TimeSpan.FromMilliseconds(1));
                }
                else
                {
                    Thread.SpinWait(50);
                }
            }
            var index = i;
            tasks[i] = SendAsync(url, onAnswer).ContinueWith(t =>
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
