using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace RouteIQ.Bench.Rollout;

/// <summary>
/// Caddy (what users pick today) side by side with the stable endpoint, in the same run: two bare
/// serving workloads (the bench's own <c>serve</c>, v1 and v2), Caddy's <c>reverse_proxy</c> in
/// front of v1 on loopback; the p50 Caddy adds over calling v1 directly (one client process
/// alternating between the two every slice, at the bench's rate, as for our endpoint), and
/// Caddy's switch time: from <c>POST /load</c> of a config pointing at the other server (its admin
/// API) to the first answer from that server, under load, with the failed requests.
/// </summary>
public static class CaddyBench
{
    /// <summary>Runs the comparison and prints <c>SUMMARY-CADDY</c>; returns Caddy's failed requests (0 when Caddy is missing: skipped).</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> serveCommand, IReadOnlyList<string> selfCommand, int rate, int seconds, int rounds, int reloads,
        TimeSpan slice, LoadGenerator load, double ourAddedP50, double ourSwitchMs)
    {
        var caddy = FindOnPath("caddy");
        if (caddy is null)
        {
            Console.WriteLine("CADDY skipped: no caddy binary on PATH (Debian: apt-get install -y caddy)");
            return 0;
        }
        var work = Directory.CreateTempSubdirectory("routeiq-bench-caddy-");
        var servers = new List<Process>();
        Process? proxy = null;
        try
        {
            var ports = new[] { StableEndpointBench.FreePort(), StableEndpointBench.FreePort() };
            for (var v = 1; v <= 2; v++)
            {
                servers.Add(Start(serveCommand, new() { ["SERVE_PORT"] = ports[v - 1].ToString(CultureInfo.InvariantCulture), ["ROUTEIQ_MODEL_VERSION"] = v.ToString(CultureInfo.InvariantCulture) }));
            }
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
            foreach (var port in ports)
            {
                await WaitOkAsync(http, $"http://127.0.0.1:{port}/ping");
            }
            var listen = StableEndpointBench.FreePort();
            var admin = StableEndpointBench.FreePort();
            var configFile = Path.Combine(work.FullName, "caddy.json");
            await File.WriteAllTextAsync(configFile, Config(listen, admin, ports[0]));
            // Its autosave and data go to the scratch folder, not the user's ~/.config.
            proxy = Start([caddy, "run", "--config", configFile], new()
            {
                ["XDG_CONFIG_HOME"] = work.FullName, ["XDG_DATA_HOME"] = work.FullName, ["HOME"] = work.FullName,
            });
            var direct = $"http://127.0.0.1:{ports[0]}/invocations";
            var proxied = $"http://127.0.0.1:{listen}/invocations";
            await WaitOkAsync(http, $"http://127.0.0.1:{listen}/ping");
            var version = (await RunCaddyVersionAsync(caddy)).Trim();

            await load.RunAsync("warmup-caddy", proxied, rate, TimeSpan.FromSeconds(2));
            var added = new List<double>();
            var errors = 0;
            for (var round = 1; round <= rounds; round++)
            {
                var results = await LoadGenerator.RunInChildAsync(selfCommand, [("direct", direct), ("caddy", proxied)], rate,
                    TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(2), slice);
                var (d, c) = (results[0], results[1]);
                errors += d.Errors + c.Errors;
                added.Add(c.Percentile(50) - d.Percentile(50));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"caddy round {round}: direct p50 {d.Percentile(50):0.000} ms p99 {d.Percentile(99):0.000} ms ({d.AchievedRate:0}/s, {d.Errors} errors) | "
                    + $"caddy p50 {c.Percentile(50):0.000} ms p99 {c.Percentile(99):0.000} ms ({c.AchievedRate:0}/s, {c.Errors} errors) | added p50 {added[^1]:0.000} ms"));
            }

            // Config reloads through the admin API while the load runs through Caddy.
            var answers = new List<(long At, int Version)>();
            var switches = new List<double>();
            var rolling = load.RunAsync("caddy-reloads", proxied, rate, TimeSpan.FromSeconds(reloads + 2), v =>
            {
                var at = Stopwatch.GetTimestamp();
                lock (answers)
                {
                    answers.Add((at, v));
                }
            });
            await Task.Delay(1000);
            for (var i = 0; i < reloads; i++)
            {
                var target = i % 2 == 0 ? 2 : 1;
                var sent = Stopwatch.GetTimestamp();
                using (var response = await http.PostAsync($"http://127.0.0.1:{admin}/load",
                           new StringContent(Config(listen, admin, ports[target - 1]), Encoding.UTF8, "application/json")))
                {
                    if (!response.IsSuccessStatusCode)
                    {
                        throw new InvalidOperationException($"caddy /load answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    }
                }
                long first = 0;
                var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 5;
                while (first == 0 && Stopwatch.GetTimestamp() < deadline)
                {
                    lock (answers)
                    {
                        first = answers.Where(a => a.At >= sent && a.Version == target).Select(a => a.At).DefaultIfEmpty(0).Min();
                    }
                    await Task.Delay(1);
                }
                if (first == 0)
                {
                    // Never switched within 5 s: a failure of the reload, counted as one.
                    errors++;
                }
                switches.Add(first == 0 ? double.NaN : Stopwatch.GetElapsedTime(sent, first).TotalMilliseconds);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"caddy reload to v{target}: POST /load → first answer from v{target} {switches[^1]:0.00} ms"));
                await Task.Delay(800);
            }
            var during = await rolling;
            errors += during.Errors;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"SUMMARY-CADDY {version} at {rate}/s: added p50 median {StableEndpointBench.Median(added):0.000} ms (ours {ourAddedP50:0.000} ms) | "
                + $"switch median {StableEndpointBench.Median(switches.Where(v => !double.IsNaN(v)).ToList()):0.00} ms max {switches.Max():0.00} ms (ours, candidate healthy → first request, {ourSwitchMs:0.00} ms) | "
                + $"{during.LatenciesMs.Length} requests during {reloads} reloads with {during.Errors} errors | total errors {errors}"));
            return errors;
        }
        finally
        {
            foreach (var process in servers.Append(proxy).OfType<Process>())
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
                catch (InvalidOperationException)
                {
                }
                process.Dispose();
            }
            work.Delete(recursive: true);
        }
    }

    /// <summary>A plain-HTTP reverse proxy on loopback to one upstream, admin API on loopback, no automatic HTTPS, errors-only logs.</summary>
    private static string Config(int listen, int admin, int upstream) => new JsonObject
    {
        ["admin"] = new JsonObject { ["listen"] = $"127.0.0.1:{admin}" },
        ["logging"] = new JsonObject { ["logs"] = new JsonObject { ["default"] = new JsonObject { ["level"] = "ERROR" } } },
        ["apps"] = new JsonObject
        {
            ["http"] = new JsonObject
            {
                ["servers"] = new JsonObject
                {
                    ["bench"] = new JsonObject
                    {
                        ["listen"] = new JsonArray($"127.0.0.1:{listen}"),
                        ["automatic_https"] = new JsonObject { ["disable"] = true },
                        ["routes"] = new JsonArray(new JsonObject
                        {
                            ["handle"] = new JsonArray(new JsonObject
                            {
                                ["handler"] = "reverse_proxy",
                                ["upstreams"] = new JsonArray(new JsonObject { ["dial"] = $"127.0.0.1:{upstream}" }),
                            }),
                        }),
                    },
                },
            },
        },
    }.ToJsonString();

    private static Process Start(IReadOnlyList<string> command, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(command[0]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in command.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        var process = Process.Start(start)!;
        // Drained so a chatty child never blocks on a full pipe.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task<string> RunCaddyVersionAsync(string caddy)
    {
        using var process = Process.Start(new ProcessStartInfo(caddy, "version") { RedirectStandardOutput = true, UseShellExecute = false })!;
        var text = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return "caddy " + text.Split(' ')[0];
    }

    private static async Task WaitOkAsync(HttpClient http, string url)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{url} did not answer 200 within 30 s");
            }
            await Task.Delay(50);
        }
    }

    private static string? FindOnPath(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}
