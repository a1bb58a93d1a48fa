using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MassTransit;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Rollout;
using RouteIQ.Rollout.Registry;
using RouteIQ.Rollout.Rollouts;
using RouteIQ.Rollout.Serving;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.Bench.Rollout;

/// <summary>
/// The stable endpoint under a fixed request rate: the latency it adds over calling the
/// serving workload directly, and — during real blue/green rolls of the full rollout service
/// (registry, publish, launcher, probe, switch, drain, record, retire) — the time from
/// "candidate healthy" to the first request the candidate serves, and any failed request.
/// </summary>
public static class StableEndpointBench
{
    private const string Model = "bench-router";

    public static async Task<int> RunAsync(string[] args)
    {
        var rate = Arg(args, "--rate", 1000);
        var seconds = Arg(args, "--seconds", 10);
        var rounds = Arg(args, "--rounds", 3);
        var rolls = Arg(args, "--rolls", 5);
        // Process (the default, as rollout ships) or InProcess (the stable endpoint inside rollout's process).
        var endpointMode = args.SkipWhile(a => a != "--stable-endpoint").Skip(1).FirstOrDefault() ?? "Process";

        var dataDir = Path.Combine(Path.GetTempPath(), $"routeiq-bench-rollout-{Guid.NewGuid():N}");
        var publicUrl = $"http://127.0.0.1:{FreePort()}";
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RouteIQ:DataDir"] = dataDir,
            ["RouteIQ:NodeName"] = "bench",
            ["RouteIQ:Rollout:PublicUrl"] = publicUrl,
            ["RouteIQ:Rollout:StopServersOnShutdown"] = "true",
            ["RouteIQ:Workloads:Launcher"] = "Process",
            ["RouteIQ:Rollout:StableEndpointMode"] = endpointMode,
        });
        // --edge-env NAME=VALUE (repeatable): runtime settings for the stable endpoint process only.
        for (var i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--edge-env" && args[i + 1].Split('=', 2) is [var name, var value])
            {
                builder.Configuration[$"RouteIQ:Rollout:EdgeEnvironment:{name}"] = value;
            }
        }
        builder.WebHost.UseUrls($"http://127.0.0.1:{FreePort()}");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddServiceDefaults("bench-rollout");
        builder.AddRollout();
        builder.AddRouteIQBus();
        await using var app = builder.Build();
        await app.StartAsync();

        var store = app.Services.GetRequiredService<IArtifactStore>();
        var registry = app.Services.GetRequiredService<ModelRegistry>();
        var coordinator = app.Services.GetRequiredService<RolloutCoordinator>();
        var routes = app.Services.GetRequiredService<StableRouteTable>();
        var bus = app.Services.GetRequiredService<IBus>();
        // Under `dotnet run` this process is the apphost; under `dotnet x.dll` it is dotnet itself.
        IReadOnlyList<string> serveCommand = Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet"
            ? [Environment.ProcessPath!, typeof(StableEndpointBench).Assembly.Location, "serve"]
            : [Environment.ProcessPath!, "serve"];

        for (var i = 1; i <= 2; i++)
        {
            var job = Guid.NewGuid();
            await using (var content = new MemoryStream(Encoding.UTF8.GetBytes($"{{\"weights\":[{i}]}}")))
            {
                await store.PutAsync(ArtifactKeys.RunOutput(job) + "model.json", content);
            }
            await registry.RegisterAsync(new TrainCompleted
            {
                JobId = job, Trainer = "bench", Node = "bench", WorkloadName = "bench", ModelName = Model,
                OutputUri = store.GetUri(ArtifactKeys.RunOutput(job)), ServeImage = "bench-serve", ServeCommand = serveCommand,
                CompletedAt = DateTimeOffset.UtcNow,
            }, CancellationToken.None);
        }
        await RollAsync(coordinator, routes, bus, 1);
        var direct = routes.Find(Model)!.ServerUrl + "/invocations";
        var proxied = $"{publicUrl}/{Model}/invocations";

        using var client = LoadGenerator.CreateClient();
        var load = new LoadGenerator(client);
        // By default each measured phase's client is a process of its own, as real callers are:
        // in-process, the load generator's timer and continuations share the proxy's thread pool.
        var inProcessClient = args.Contains("--in-process-client");
        // By default a round's direct and proxied calls come from one client process that
        // alternates between them every second (--slice); --sequential measures a whole direct
        // phase, then a whole proxied phase (the method of the earlier sessions).
        var sequential = inProcessClient || args.Contains("--sequential");
        var slice = TimeSpan.FromSeconds(Arg(args, "--slice", 1));
        var selfCommand = serveCommand.Take(serveCommand.Count - 1).ToList();
        Task<PhaseResult> Phase(string name, string url) => inProcessClient
            ? load.RunAsync(name, url, rate, TimeSpan.FromSeconds(seconds))
            : LoadGenerator.RunInChildAsync(selfCommand, name, url, rate, TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(2));

        var endpoint = app.Services.GetRequiredService<StableEndpointHost>();
        Console.WriteLine($"rate {rate}/s, {seconds}s phases, {rounds} rounds, {Environment.ProcessorCount} cores, client {(inProcessClient ? "in rollout's process" : "in its own process")}, "
            + $"{(sequential ? "direct phase then proxied phase" : $"direct and proxied alternating every {slice.TotalSeconds:0.#} s")}, stable endpoint {endpoint.Mode}");
        await load.RunAsync("warmup-direct", direct, rate, TimeSpan.FromSeconds(2));
        await load.RunAsync("warmup-proxy", proxied, rate, TimeSpan.FromSeconds(2));

        var added50 = new List<double>();
        var added99 = new List<double>();
        var errors = 0;
        for (var round = 1; round <= rounds; round++)
        {
            PhaseResult d, p;
            var cpu0 = EndpointCpu(endpoint);
            if (sequential)
            {
                d = await Phase("direct", direct);
                p = await Phase("proxy", proxied);
            }
            else
            {
                var results = await LoadGenerator.RunInChildAsync(selfCommand, [("direct", direct), ("proxy", proxied)], rate,
                    TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(2), slice);
                (d, p) = (results[0], results[1]);
            }
            // The endpoint's CPU over the round also covers the client's 2 s proxied warm-up
            // (the in-process client has none).
            var proxiedRequests = p.LatenciesMs.Length + p.Errors + (inProcessClient ? 0 : 2 * rate);
            var cpuPerRequest = (EndpointCpu(endpoint) - cpu0).TotalMicroseconds / Math.Max(1, proxiedRequests);
            errors += d.Errors + p.Errors;
            added50.Add(p.Percentile(50) - d.Percentile(50));
            added99.Add(p.Percentile(99) - d.Percentile(99));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round}: direct p50 {d.Percentile(50):0.000} ms p99 {d.Percentile(99):0.000} ms ({d.AchievedRate:0}/s, {d.Errors} errors) | "
                + $"proxy p50 {p.Percentile(50):0.000} ms p99 {p.Percentile(99):0.000} ms ({p.AchievedRate:0}/s, {p.Errors} errors) | "
                + $"added p50 {added50[^1]:0.000} ms p99 {added99[^1]:0.000} ms | endpoint CPU {cpuPerRequest:0} us/request"));
        }

        // Issue 18: weighted split vs plain route, and a failing canary's rollback, in this run (--promotion only).
        if (args.Contains("--promotion"))
        {
            errors += await PromotionBench.RunAsync(app.Services, serveCommand, selfCommand, publicUrl, Model, rate, seconds, rounds, slice, load);
        }

        // Real rolls while the load runs through the stable endpoint.
        var switches = new List<double>();
        var seen = new List<int>();
        var rollSeconds = rolls * 5 + 2;
        var rolling = load.RunAsync("rolls", proxied, rate, TimeSpan.FromSeconds(rollSeconds), v => { lock (seen) { seen.Add(v); } });
        await Task.Delay(1000);
        for (var i = 0; i < rolls; i++)
        {
            var version = i % 2 == 0 ? 2 : 1;
            await RollAsync(coordinator, routes, bus, version);
            await Task.Delay(200);
            var route = routes.Find(Model)!;
            switches.Add(route.SwitchTime?.TotalMilliseconds ?? double.NaN);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"roll to v{version}: candidate healthy → first request served {switches[^1]:0.00} ms"));
        }
        var during = await rolling;
        errors += during.Errors;
        int changes;
        lock (seen)
        {
            changes = seen.Where((v, i) => i > 0 && seen[i - 1] != v).Count();
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"SUMMARY added p50 median {Median(added50):0.000} ms, added p99 median {Median(added99):0.000} ms, "
            + $"switch median {Median(switches):0.00} ms max {switches.Max():0.00} ms, "
            + $"{during.LatenciesMs.Length} requests during {rolls} rolls with {during.Errors} errors (answers changed {changes} times, completion order), total errors {errors}"));
        // Caddy side by side, same machine, same run, same rate (--no-caddy leaves it out); its
        // failed requests are printed in SUMMARY-CADDY, the exit status is about our endpoint.
        if (!args.Contains("--no-caddy"))
        {
            await CaddyBench.RunAsync(serveCommand, selfCommand, rate, seconds, rounds, rolls, slice, load, Median(added50), Median(switches));
        }
        await app.StopAsync();
        return errors == 0 ? 0 : 1;
    }

    private static async Task RollAsync(RolloutCoordinator coordinator, StableRouteTable routes, IBus bus, int version)
    {
        await coordinator.RollAsync(new RollRequested { JobId = Guid.NewGuid(), ModelName = Model, Ref = version.ToString(CultureInfo.InvariantCulture), RequestedAt = DateTimeOffset.UtcNow }, bus, CancellationToken.None);
        if (routes.Find(Model)?.Version != version)
        {
            throw new InvalidOperationException($"roll to v{version} failed (see the log)");
        }
    }

    /// <summary>CPU time of the process the stable endpoint runs in (its own, or this one in process mode).</summary>
    private static TimeSpan EndpointCpu(StableEndpointHost endpoint)
    {
        using var process = endpoint.EdgeProcessId is { } pid ? System.Diagnostics.Process.GetProcessById(pid) : System.Diagnostics.Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    internal static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
