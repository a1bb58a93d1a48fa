using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using RouteIQ.GatewayAdmin;
using RouteIQ.ServiceDefaults;
using RouteIQ.TrainerRunner;

// Usage: dotnet run -c Release --project bench/RouteIQ.Bench.Runner -- [dispatch|throughput|all] [--iterations 20] [--jobs 48]
// Needs scripts/infra.sh (RabbitMQ, PostgreSQL, Docker with routeiq/busybox:test).
var mode = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
var iterations = Option("--iterations", 20);
var jobs = Option("--jobs", 48);
var image = Env("ROUTEIQ_TEST_IMAGE", "routeiq/busybox:test");

await using var stack = await Stack.StartAsync(image, runners: mode == "dispatch" ? 1 : 2, slots: 4);
if (mode is "dispatch" or "all")
{
    await Dispatch(stack, image, iterations);
}
if (mode is "throughput" or "all")
{
    await Throughput(stack, jobs);
}
return 0;

int Option(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static string Env(string name, string fallback) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : fallback;

static async Task Dispatch(Stack stack, string image, int iterations)
{
    // Warm-up: first container start, JIT, connection pools.
    await stack.TrainSyncAsync();
    await DockerRunAsync(image);

    var train = new List<double>();
    var bare = new List<double>();
    for (var i = 0; i < iterations; i++)
    {
        // Alternate so drift in machine load hits both alike.
        train.Add(await stack.TrainSyncAsync());
        bare.Add(await DockerRunAsync(image));
    }
    var overheads = train.Zip(bare, (t, b) => t - b).ToList();
    Console.WriteLine($"dispatch: {iterations} alternating pairs");
    Console.WriteLine($"  POST /admin/train (sync)     median {Median(train):F0} ms  p90 {Percentile(train, 0.9):F0} ms");
    Console.WriteLine($"  docker run --rm --network host true  median {Median(bare):F0} ms  p90 {Percentile(bare, 0.9):F0} ms");
    Console.WriteLine($"  overhead (pairwise)          median {Median(overheads):F0} ms  (target <= 150 ms)");
    Console.WriteLine($"  overhead (median - median)   {Median(train) - Median(bare):F0} ms");
}

static async Task Throughput(Stack stack, int jobs)
{
    // One job alone, several times: the unit the target is stated in.
    var single = new List<double>();
    for (var i = 0; i < 5; i++)
    {
        single.Add(await stack.TrainSyncAsync());
    }
    var one = Median(single);

    var watch = Stopwatch.StartNew();
    var ids = new List<Guid>();
    for (var i = 0; i < jobs; i++)
    {
        ids.Add(await stack.TrainAsyncAsync());
    }
    await stack.WaitAllAsync(ids, TimeSpan.FromMinutes(10));
    var total = watch.Elapsed.TotalMilliseconds;
    var slots = stack.Runners.Sum(r => r.Slots);
    var budget = 1.5 * jobs / slots * one;
    Console.WriteLine($"throughput: {jobs} jobs over {stack.Runners.Count} runners x {stack.Runners[0].Slots} slots");
    Console.WriteLine($"  one job alone (median of 5)  {one:F0} ms");
    Console.WriteLine($"  all {jobs} jobs                {total:F0} ms  (target <= 1.5 x {jobs}/{slots} x one = {budget:F0} ms; ratio {total / (jobs / (double)slots * one):F2})");
    Console.WriteLine($"  taken per runner             {string.Join(", ", stack.Runners.Select(r => $"{r.Node}: {r.Taken} (max {r.MaxConcurrent} at once)"))}");
}

static async Task<double> DockerRunAsync(string image)
{
    var watch = Stopwatch.StartNew();
    using var process = Process.Start(new ProcessStartInfo("docker", ["run", "--rm", "--network", "host", image, "true"])
    {
        RedirectStandardOutput = true,
        RedirectStandardError = true,
    })!;
    await process.WaitForExitAsync();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"docker run failed: {await process.StandardError.ReadToEndAsync()}");
    }
    return watch.Elapsed.TotalMilliseconds;
}

static double Median(IReadOnlyList<double> values) => Percentile(values, 0.5);

static double Percentile(IReadOnlyList<double> values, double p)
{
    var sorted = values.Order().ToList();
    var rank = p * (sorted.Count - 1);
    var low = (int)Math.Floor(rank);
    var high = (int)Math.Ceiling(rank);
    return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

/// <summary>gateway-admin and N trainer-runners, each its own host in this process, on a fresh vhost and database.</summary>
internal sealed class Stack : IAsyncDisposable
{
    private readonly List<WebApplication> _apps = [];
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(5) };
    private string _gatewayUrl = "";

    public List<RunnerState> Runners { get; } = [];

    public static async Task<Stack> StartAsync(string image, int runners, int slots)
    {
        var stack = new Stack();
        var rabbit = await CreateVirtualHostAsync();
        var database = await CreateDatabaseAsync();
        var root = Directory.CreateTempSubdirectory("routeiq-bench-runner-").FullName;
        var specs = Directory.CreateDirectory(Path.Combine(root, "specs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(specs, "bench.yaml"), $"""
            quick:
              trainer_image: {image}
              command: ["/bin/sh", "-c", "echo m > /output/model.bin"]
              timeout: 120
            """);
        var artifacts = "file://" + Path.Combine(root, "artifacts");

        stack._gatewayUrl = await stack.StartHostAsync(root, "gateway", new()
        {
            ["ConnectionStrings:RouteIQ"] = database,
            ["RouteIQ:Specs:Path"] = specs,
            ["RouteIQ:Jobs:VersionGraceSeconds"] = "0",
        }, rabbit, artifacts, b => b.AddGatewayAdmin(), app => app.MapGatewayAdminApi());
        for (var i = 0; i < runners; i++)
        {
            await stack.StartHostAsync(root, $"bench-runner-{i}", new()
            {
                ["RouteIQ:Runner:Slots"] = slots.ToString(CultureInfo.InvariantCulture),
                ["RouteIQ:Workloads:Launcher"] = "Docker",
            }, rabbit, artifacts, b => b.AddTrainerRunner(), app => app.MapTrainerRunnerApi());
            stack.Runners.Add(stack._apps[^1].Services.GetRequiredService<RunnerState>());
        }
        return stack;
    }

    private async Task<string> StartHostAsync(string root, string node, Dictionary<string, string?> settings, string rabbit,
        string artifacts, Action<WebApplicationBuilder> add, Action<WebApplication> map)
    {
        var url = $"http://127.0.0.1:{FreePort()}";
        var builder = WebApplication.CreateBuilder();
        settings["ConnectionStrings:RabbitMq"] = rabbit;
        settings["RouteIQ:NodeName"] = node;
        settings["RouteIQ:DataDir"] = Path.Combine(root, node);
        settings["RouteIQ:Artifacts:Uri"] = artifacts;
        settings["Logging:LogLevel:Default"] = "Warning";
        builder.Configuration.AddInMemoryCollection(settings);
        builder.UseDefaultUrls(url);
        builder.AddServiceDefaults(node);
        add(builder);
        builder.AddRouteIQBus();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        map(app);
        await app.StartAsync();
        _apps.Add(app);
        return url;
    }

    /// <summary>A synchronous <c>POST /admin/train/quick</c>: milliseconds until the 200.</summary>
    public async Task<double> TrainSyncAsync()
    {
        var watch = Stopwatch.StartNew();
        using var response = await _http.PostAsJsonAsync($"{_gatewayUrl}/admin/train/quick", new { });
        var elapsed = watch.Elapsed.TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"train answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        return elapsed;
    }

    public async Task<Guid> TrainAsyncAsync()
    {
        using var response = await _http.PostAsJsonAsync($"{_gatewayUrl}/admin/train/quick?async=true", new { });
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("job_id").GetGuid();
    }

    public async Task WaitAllAsync(IReadOnlyCollection<Guid> ids, TimeSpan timeout)
    {
        var left = new HashSet<Guid>(ids);
        var watch = Stopwatch.StartNew();
        while (left.Count > 0)
        {
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"{left.Count} jobs unfinished");
            }
            foreach (var id in left.ToList())
            {
                var job = await _http.GetFromJsonAsync<JsonElement>($"{_gatewayUrl}/admin/jobs/{id}");
                var state = job.GetProperty("state").GetString();
                if (state is "succeeded")
                {
                    left.Remove(id);
                }
                else if (state is "failed" or "cancelled")
                {
                    throw new InvalidOperationException($"job {id} {state}: {job.GetProperty("error")}");
                }
            }
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in Enumerable.Reverse(_apps))
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
        _http.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> CreateVirtualHostAsync()
    {
        var vhost = $"bench-runner-{Guid.NewGuid():N}"[..24];
        foreach (var command in new[] { new[] { "add_vhost", vhost }, ["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"] })
        {
            using var process = Process.Start(new ProcessStartInfo("rabbitmqctl", command) { RedirectStandardOutput = true })!;
            await process.WaitForExitAsync();
        }
        var baseUri = new Uri(Environment.GetEnvironmentVariable("ROUTEIQ_TEST_RABBITMQ") is { Length: > 0 } r ? r : "amqp://guest:guest@127.0.0.1:5672/");
        return new UriBuilder(baseUri) { Path = "/" + vhost }.Uri.ToString();
    }

    private static async Task<string> CreateDatabaseAsync()
    {
        var admin = Environment.GetEnvironmentVariable("ROUTEIQ_TEST_POSTGRES") is { Length: > 0 } p
            ? p : "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres";
        var name = $"bench_runner_{Guid.NewGuid():N}";
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"CREATE DATABASE \"{name}\"";
        await command.ExecuteNonQueryAsync();
        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }
}
