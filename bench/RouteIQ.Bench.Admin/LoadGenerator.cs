using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace RouteIQ.Bench.Admin;

public sealed record Target(string Name, string Url, string Body);

public sealed record LoadResult(long Requests, long Errors, double Seconds, double P50Ms, double P99Ms, double CpuMsPerRequest)
{
    public double RequestsPerSecond => Requests / Seconds;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{RequestsPerSecond,8:0} req/s  p50 {P50Ms,6:0.00} ms  p99 {P99Ms,6:0.00} ms  process CPU {CpuMsPerRequest:0.000} ms/request  ({Requests} requests, {Errors} errors)");
}

/// <summary>A closed-loop load: <c>concurrency</c> connections, each sending the next request when the last one answered.</summary>
public static class LoadGenerator
{
    public static async Task<LoadResult> RunAsync(Target target, int concurrency, TimeSpan duration)
    {
        using var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = concurrency,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            UseProxy = false,
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
        var body = Encoding.UTF8.GetBytes(target.Body);
        var latencies = new List<double>[concurrency];
        long errors = 0;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var stop = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(async w =>
        {
            var mine = latencies[w] = new List<double>(100_000);
            while (stop.Elapsed < duration)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, target.Url)
                {
                    Content = new ByteArrayContent(body) { Headers = { { "Content-Type", "application/json" } } },
                };
                request.Headers.Add("Prefer", "respond-async");
                var start = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.SendAsync(request);
                    await response.Content.ReadAsByteArrayAsync();
                    if (response.StatusCode != HttpStatusCode.Accepted)
                    {
                        Interlocked.Increment(ref errors);
                        continue;
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }).ToArray();
        await Task.WhenAll(workers);
        var elapsed = stop.Elapsed.TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new LoadResult(all.Length, errors, elapsed, Percentile(all, 0.50), Percentile(all, 0.99), all.Length == 0 ? double.NaN : cpu / all.Length);
    }

    private static double Percentile(double[] sorted, double p)
        => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
