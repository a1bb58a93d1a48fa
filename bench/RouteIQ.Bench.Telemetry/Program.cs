using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RouteIQ.Bench.Telemetry;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest;
using RouteIQ.TelemetryIngest.Datasets;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Otlp.Proto;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

// Load harness for telemetry-ingest. Modes:
//   rabbit  [--count N] [--warmup W]  publish W + N events from a separate process into two queues bound to
//                                 the exchange, drain one with an ack-only consumer (the broker's ceiling),
//                                 then the other with telemetry-ingest into a fresh PostgreSQL database;
//                                 each is timed over the last N, after draining the first W (default 50,000).
//   publish --uri U --count N     (child process) publish N raw JSON events with confirms.
//   otlp    [--requests N] [--concurrency C] [--warmup W]  POST N OTLP/protobuf requests of 512 spans to /v1/traces (PostgreSQL), C at a time, after W warm-up requests.
//   parse   [--count N]           the shared parser alone (CPU, allocations per event).
//   dataset [--count N]           store N decisions in PostgreSQL, build a dataset, report time and peak memory.
//   feedback [--count N] [--grades G] [--runs R]  store N decisions, build (baseline), ingest G grades (parse + write,
//                                 against the same for G decisions), build with the grades joined (issue 17).
//   write   [--count N] [--batch B] [--parallel P] [--direct 0|1]  the PostgreSQL writer alone: N parsed decisions
//                                 in batches of B, P batches at a time (rows/s, process CPU per row); --direct 0
//                                 writes every batch through the staging table.
// rabbit and write take --direct 0 (RouteIQ:Telemetry:DirectCopy=false) for the staging-table path.
// Infrastructure: ROUTEIQ_TEST_RABBITMQ (amqp://guest:guest@127.0.0.1:5672/), ROUTEIQ_TEST_POSTGRES.
var mode = args.Length > 0 ? args[0] : "help";
// The service is measured in this process: the socket setting its Main applies, before any socket opens.
var inlineCompletions = mode == "publish" ? null : SocketRuntime.Apply();
var options = Args.Parse(args.Skip(1));
if (mode != "publish" && !RuntimeMatchesService())
{
    return 2;
}
if (inlineCompletions is not null)
{
    Console.WriteLine($"socket completions inline: {inlineCompletions} ({SocketRuntime.InlineCompletionsVariable}, as telemetry-ingest's Main sets it unless configured)");
}
return mode switch
{
    "publish" => await Modes.PublishAsync(options),
    "rabbit" => await Modes.RabbitAsync(options),
    "otlp" => await Modes.OtlpAsync(options),
    "dataset" => await Modes.DatasetAsync(options),
    "feedback" => await FeedbackBench.RunAsync(options),
    "parse" => Modes.Parse(options),
    "write" => await Modes.WriteAsync(options),
    _ => Usage(),
};

// The service is measured inside this process, so this process must run with the runtime settings
// the service ships with: its GC, and its thread-pool spinning.
static bool RuntimeMatchesService()
{
    static JsonElement Properties(string file)
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, file)));
        return config.RootElement.GetProperty("runtimeOptions").TryGetProperty("configProperties", out var properties)
            ? properties.Clone()
            : default;
    }
    static string? Setting(JsonElement properties, string name)
        => properties.ValueKind == JsonValueKind.Object && properties.TryGetProperty(name, out var value) ? value.ToString() : null;

    var service = Properties("RouteIQ.TelemetryIngest.runtimeconfig.json");
    var serviceServerGc = Setting(service, "System.GC.Server") is "true" or "True";
    var envOverride = Environment.GetEnvironmentVariable("DOTNET_gcServer");
    if (envOverride is null && System.Runtime.GCSettings.IsServerGC != serviceServerGc)
    {
        Console.Error.WriteLine($"this harness runs {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC but telemetry-ingest ships with {(serviceServerGc ? "server" : "workstation")} GC: align RouteIQ.Bench.Telemetry.csproj");
        return false;
    }
    const string Spin = "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit";
    var serviceSpin = Setting(service, Spin);
    var harnessSpin = Setting(Properties("RouteIQ.Bench.Telemetry.runtimeconfig.json"), Spin);
    var spinOverride = Environment.GetEnvironmentVariable("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit");
    if (spinOverride is null && serviceSpin != harnessSpin)
    {
        Console.Error.WriteLine($"this harness runs {Spin}={harnessSpin ?? "default"} but telemetry-ingest ships with {serviceSpin ?? "default"}: align RouteIQ.Bench.Telemetry.csproj");
        return false;
    }
    Console.WriteLine($"GC: {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}{(envOverride is null ? " (as telemetry-ingest ships)" : $" (DOTNET_gcServer={envOverride} override)")}; "
        + $"thread-pool spin limit {spinOverride ?? harnessSpin ?? "default"}{(spinOverride is null ? " (as telemetry-ingest ships)" : " (DOTNET_ThreadPool_UnfairSemaphoreSpinLimit override)")}");
    return true;
}

static int Usage()
{
    Console.Error.WriteLine("usage: RouteIQ.Bench.Telemetry rabbit|otlp|dataset [--count N] [--requests N] [--runs N]");
    return 64;
}

namespace RouteIQ.Bench.Telemetry
{
    internal sealed class Args(Dictionary<string, string> values)
    {
        public static Args Parse(IEnumerable<string> args)
        {
            var list = args.ToList();
            var values = new Dictionary<string, string>();
            for (var i = 0; i + 1 < list.Count; i += 2)
            {
                values[list[i].TrimStart('-')] = list[i + 1];
            }
            return new Args(values);
        }

        public long Long(string name, long fallback) => values.TryGetValue(name, out var v) ? long.Parse(v, CultureInfo.InvariantCulture) : fallback;
        public string? Text(string name) => values.GetValueOrDefault(name);
    }

    /// <summary>CPU time of this process, the broker (beam.smp) and PostgreSQL over a phase, from /proc.</summary>
    internal sealed class CpuShares
    {
        private readonly Dictionary<string, double> _start;

        private CpuShares(Dictionary<string, double> start) => _start = start;

        public static CpuShares Start() => new(Read());

        public string Report(long events)
        {
            var now = Read();
            return string.Join(", ", now.Select(kv => FormattableString.Invariant(
                $"{kv.Key} {(kv.Value - _start.GetValueOrDefault(kv.Key)) * 1e6 / events:F1} us")));
        }

        private static Dictionary<string, double> Read()
        {
            var ticks = 100.0; // USER_HZ
            var totals = new Dictionary<string, double> { ["harness"] = 0, ["rabbitmq"] = 0, ["postgres"] = 0 };
            var self = Environment.ProcessId;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out var pid))
                {
                    continue;
                }
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var name = stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')];
                    var key = pid == self ? "harness" : name == "beam.smp" ? "rabbitmq" : name == "postgres" ? "postgres" : null;
                    if (key is null)
                    {
                        continue;
                    }
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
                    totals[key] += (double.Parse(fields[11], CultureInfo.InvariantCulture) + double.Parse(fields[12], CultureInfo.InvariantCulture)) / ticks;
                }
                catch (IOException)
                {
                    // The process exited meanwhile.
                }
            }
            return totals;
        }
    }

    internal static class Infra
    {
        public static string Rabbit => Environment.GetEnvironmentVariable("ROUTEIQ_TEST_RABBITMQ") is { Length: > 0 } v ? v : "amqp://guest:guest@127.0.0.1:5672/";
        public static string Postgres => Environment.GetEnvironmentVariable("ROUTEIQ_TEST_POSTGRES") is { Length: > 0 } v ? v : "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres";

        public static async Task<string> CreateDatabaseAsync(string prefix)
        {
            var name = $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 13)];
            await using var connection = new NpgsqlConnection(Postgres);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
            return new NpgsqlConnectionStringBuilder(Postgres) { Database = name }.ConnectionString;
        }

        public static async Task DropDatabaseAsync(string connectionString)
        {
            NpgsqlConnection.ClearAllPools();
            var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
            await using var connection = new NpgsqlConnection(Postgres);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
            await command.ExecuteNonQueryAsync();
        }

        public static async Task<string> CreateVirtualHostAsync(string prefix)
        {
            var vhost = $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];
            await RunAsync("rabbitmqctl", "add_vhost", vhost);
            await RunAsync("rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
            return new UriBuilder(new Uri(Rabbit)) { Path = "/" + Uri.EscapeDataString(vhost) }.Uri.ToString();
        }

        public static Task DeleteVirtualHostAsync(string uri)
            => RunAsync("rabbitmqctl", "delete_vhost", RabbitMqEndpoint.Parse(uri, "bench").VirtualHost);

        public static async Task RunAsync(string file, params string[] args)
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args)
            {
                psi.ArgumentList.Add(a);
            }
            using var process = Process.Start(psi)!;
            await process.StandardOutput.ReadToEndAsync();
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {error}");
            }
        }

        public static string NewDataDir() => Path.Combine(Path.GetTempPath(), "routeiq-bench-" + Guid.NewGuid().ToString("N"));

        /// <summary>telemetry-ingest on <paramref name="port"/> (a free one by default) over <paramref name="database"/>, plus <paramref name="extra"/> settings.</summary>
        public static async Task<WebApplication> StartHostAsync(string database, string? dataDir = null, int? port = null,
            Dictionary<string, string?>? extra = null)
        {
            var builder = WebApplication.CreateBuilder();
            builder.WebHost.UseUrls($"http://127.0.0.1:{port ?? FreePort()}");
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["ConnectionStrings:RouteIQ"] = database,
                ["RouteIQ:DataDir"] = dataDir ?? NewDataDir(),
                ["Logging:LogLevel:Default"] = "Warning",
            });
            if (extra is not null)
            {
                builder.Configuration.AddInMemoryCollection(extra);
            }
            builder.AddServiceDefaults("telemetry-ingest");
            builder.AddTelemetryIngest();
            builder.AddRouteIQBus();
            var app = builder.Build();
            app.MapDefaultEndpoints();
            app.MapTelemetryIngestApi();
            await app.StartAsync();
            return app;
        }

        public static int FreePort()
        {
            using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
    }

    internal static class Modes
    {
        private const string IngestQueue = "telemetry-ingest.router-decisions";
        private const string BaselineQueue = "bench.ack-only";
        private const string Exchange = "routeiq.router_decision.v1";

        public static async Task<int> PublishAsync(Args options)
        {
            var uri = options.Text("uri") ?? throw new ArgumentException("--uri is required");
            var count = options.Long("count", 1_000_000);
            var generator = new SyntheticTelemetry(seed: 99);
            var publisher = new RawDecisionPublisher(RabbitMqEndpoint.Parse(uri, "--uri"), window: 1000);
            var sw = Stopwatch.StartNew();
            await publisher.PublishAsync(count, i => generator.Event(i));
            Console.WriteLine(FormattableString.Invariant($"published {count} in {sw.Elapsed.TotalSeconds:F1} s ({count / sw.Elapsed.TotalSeconds:F0}/s)"));
            return 0;
        }

        public static async Task<int> RabbitAsync(Args options)
        {
            var count = options.Long("count", 1_000_000);
            // Both consumers first drain this many events untimed: a service that has been running is
            // measured, not its first seconds of JIT (--warmup 0 measures from a cold start).
            var warmup = options.Long("warmup", 50_000);
            var uri = await Infra.CreateVirtualHostAsync("bench-rmq");
            var database = await Infra.CreateDatabaseAsync("bench_rmq");
            try
            {
                var endpoint = RabbitMqEndpoint.Parse(uri, "bench");
                await DeclareAsync(endpoint);

                // The publisher is a separate process, as a gateway would be.
                var self = Environment.ProcessPath!;
                var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true };
                if (Path.GetFileNameWithoutExtension(self) == "dotnet")
                {
                    psi.ArgumentList.Add(typeof(Modes).Assembly.Location);
                }
                foreach (var a in new[] { "publish", "--uri", uri, "--count", (warmup + count).ToString(CultureInfo.InvariantCulture) })
                {
                    psi.ArgumentList.Add(a);
                }
                using (var publisher = Process.Start(psi)!)
                {
                    Console.WriteLine("publisher: " + (await publisher.StandardOutput.ReadToEndAsync()).Trim());
                    await publisher.WaitForExitAsync();
                }

                var (baseline, baselineCpu) = await AckOnlyAsync(endpoint, warmup, count);
                Console.WriteLine(FormattableString.Invariant($"ack-only baseline: {count} in {baseline.TotalSeconds:F2} s = {count / baseline.TotalSeconds:F0} events/s; CPU per event: {baselineCpu}"));

                await using var app = await Infra.StartHostAsync(database, extra: new Dictionary<string, string?>
                {
                    ["ConnectionStrings:RabbitMq"] = uri,
                    ["RouteIQ:Telemetry:BatchSize"] = options.Text("batch") ?? "2000",
                    ["RouteIQ:Telemetry:DirectCopy"] = options.Long("direct", 1) != 0 ? "true" : "false",
                });
                // The clock starts once the service has committed the warm-up events (its input
                // connected and consuming the backlog; from its start with --warmup 0) and stops at
                // the commit that completes the count, read from the service's own counter (polling
                // COUNT(*) on a growing table would load the database being measured); the table is
                // counted once at the end to confirm.
                var metrics = app.Services.GetRequiredService<IngestMetrics>();
                while (metrics.StoredSinceStart < warmup)
                {
                    await Task.Delay(5);
                }
                var sw = Stopwatch.StartNew();
                var cpu = CpuShares.Start();
                while (metrics.StoredSinceStart < warmup + count)
                {
                    await Task.Delay(20);
                }
                var ingest = sw.Elapsed;
                var shares = cpu.Report(count);
                await using (var db = await app.Services.GetRequiredService<IDbContextFactory<TelemetryDbContext>>().CreateDbContextAsync())
                {
                    var rows = await db.Decisions.LongCountAsync();
                    if (rows != warmup + count)
                    {
                        throw new InvalidOperationException($"{rows} rows stored, {warmup + count} expected");
                    }
                }
                Console.WriteLine(FormattableString.Invariant($"telemetry-ingest: {count} committed in PostgreSQL in {ingest.TotalSeconds:F2} s = {count / ingest.TotalSeconds:F0} events/s; CPU per event: {shares}"));
                Console.WriteLine(FormattableString.Invariant($"ratio to the ack-only baseline: {baseline.TotalSeconds / ingest.TotalSeconds:F2}"));
                if (app.Services.GetRequiredService<IDecisionWriter>() is PostgresDecisionWriter writer)
                {
                    Console.WriteLine($"batches: {writer.DirectBatches} COPYed straight into decisions, {writer.StagedBatches} through staging");
                }
                await app.StopAsync();
            }
            finally
            {
                await Infra.DeleteVirtualHostAsync(uri);
                await Infra.DropDatabaseAsync(database);
            }
            return 0;
        }

        private static async Task DeclareAsync(RabbitMqEndpoint endpoint)
        {
            await using var connection = await Factory(endpoint).CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            await channel.ExchangeDeclareAsync(Exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            foreach (var queue in new[] { IngestQueue, BaselineQueue })
            {
                await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false);
                await channel.QueueBindAsync(queue, Exchange, "");
            }
        }

        /// <summary>
        /// The broker's ceiling: a consumer that acks (multiple) every 1,000 deliveries and does nothing
        /// else; timed (with the CPU it and the broker use) from the end of the warm-up.
        /// </summary>
        private static async Task<(TimeSpan Elapsed, string Cpu)> AckOnlyAsync(RabbitMqEndpoint endpoint, long warmup, long count)
        {
            var total = warmup + count;
            await using var connection = await Factory(endpoint).CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            await channel.BasicQosAsync(0, 4000, false);
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            long received = 0;
            var sw = new Stopwatch();
            CpuShares? cpu = null;
            void StartClock()
            {
                cpu = CpuShares.Start();
                sw.Start();
            }
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += async (_, ea) =>
            {
                var n = ++received;
                if (n % 1000 == 0 || n == total)
                {
                    await channel.BasicAckAsync(ea.DeliveryTag, multiple: true);
                }
                if (n == warmup)
                {
                    StartClock();
                }
                if (n == total)
                {
                    sw.Stop();
                    done.TrySetResult();
                }
            };
            if (warmup == 0)
            {
                StartClock();
            }
            await channel.BasicConsumeAsync(BaselineQueue, autoAck: false, consumer);
            await done.Task;
            return (sw.Elapsed, cpu!.Report(count));
        }

        private static ConnectionFactory Factory(RabbitMqEndpoint e) => new()
        {
            HostName = e.Host, Port = e.Port, VirtualHost = e.VirtualHost, UserName = e.Username, Password = e.Password,
        };

        public static async Task<int> OtlpAsync(Args options)
        {
            var requests = (int)options.Long("requests", 400);
            var concurrency = (int)options.Long("concurrency", 4);
            var database = await Infra.CreateDatabaseAsync("bench_otlp");
            try
            {
                var port = Infra.FreePort();
                await using var app = await Infra.StartHostAsync(database, port: port);
                var generator = new SyntheticTelemetry(seed: 98, includeQueryText: false);
                var bodies = Enumerable.Range(0, requests).Select(r => BuildRequest(generator, r * 512L, 512)).ToArray();
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
                // Warm-up outside the measurement (distinct events): one request left the JIT at
                // tier 0 for most of a short run and measured start-up, not the receiver.
                var warmupGenerator = new SyntheticTelemetry(seed: 97);
                var warmup = (int)options.Long("warmup", 40);
                for (var w = 0; w < warmup; w += concurrency)
                {
                    await Task.WhenAll(Enumerable.Range(w, Math.Min(concurrency, warmup - w))
                        .Select(r => PostAsync(http, BuildRequest(warmupGenerator, r * 512L, 512))));
                }

                var next = -1;
                var cpu = CpuShares.Start();
                var sw = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) < requests)
                    {
                        await PostAsync(http, bodies[i]);
                    }
                }));
                var elapsed = sw.Elapsed;
                var events = requests * 512L;
                Console.WriteLine(FormattableString.Invariant(
                    $"otlp: {requests} requests x 512 spans ({bodies.Average(b => b.Length) / 1024:F0} KiB each), concurrency {concurrency}: {events} events in {elapsed.TotalSeconds:F2} s = {events / elapsed.TotalSeconds:F0} events/s; CPU per event: {cpu.Report(events)}"));
                await app.StopAsync();
            }
            finally
            {
                await Infra.DropDatabaseAsync(database);
            }
            return 0;
        }

        private static byte[] BuildRequest(SyntheticTelemetry generator, long first, int spans)
        {
            var scope = new ScopeSpans { Scope = new InstrumentationScope { Name = "routeiq-gateway" } };
            for (var i = 0; i < spans; i++)
            {
                var span = new Span
                {
                    TraceId = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()),
                    SpanId = ByteString.CopyFrom(BitConverter.GetBytes(first + i + 1)),
                    Name = "router.route",
                    StartTimeUnixNano = 1_760_000_000_000_000_000,
                    EndTimeUnixNano = 1_760_000_000_010_000_000,
                };
                var e = new Span.Types.Event { Name = DecisionParser.ContractName, TimeUnixNano = 1_760_000_000_005_000_000 };
                e.Attributes.Add(new KeyValue
                {
                    Key = DecisionParser.PayloadAttribute,
                    Value = new AnyValue { StringValue = System.Text.Encoding.UTF8.GetString(generator.Event(first + i)) },
                });
                span.Events.Add(e);
                scope.Spans.Add(span);
            }
            var request = new ExportTraceServiceRequest();
            request.ResourceSpans.Add(new ResourceSpans { ScopeSpans = { scope } });
            return request.ToByteArray();
        }

        private static async Task PostAsync(HttpClient http, byte[] body)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-protobuf");
            using var response = await http.PostAsync("v1/traces", content);
            response.EnsureSuccessStatusCode();
        }

        public static int Parse(Args options)
        {
            var count = (int)options.Long("count", 200_000);
            var generator = new SyntheticTelemetry(seed: 95);
            var bodies = Enumerable.Range(0, count).Select(i => generator.Event(i)).ToArray();
            var parser = new DecisionParser(new TelemetryIngestOptions(), TimeProvider.System);
            for (var run = 0; run < 5; run++)
            {
                var allocated = GC.GetAllocatedBytesForCurrentThread();
                var sw = Stopwatch.StartNew();
                var accepted = 0;
                foreach (var body in bodies)
                {
                    accepted += parser.Parse(body, new DecisionContext(IngestSources.Bus)).IsAccepted ? 1 : 0;
                }
                var elapsed = sw.Elapsed;
                Console.WriteLine(FormattableString.Invariant(
                    $"parse run {run}: {accepted}/{count} events ({bodies.Average(b => b.Length):F0} B avg) in {elapsed.TotalSeconds:F2} s = {count / elapsed.TotalSeconds:F0} events/s, {(GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)count:F0} B allocated/event"));
            }
            return 0;
        }

        public static async Task<int> WriteAsync(Args options)
        {
            var count = (int)options.Long("count", 200_000);
            var batchSize = (int)options.Long("batch", 2_000);
            var parallel = (int)options.Long("parallel", 1);
            // --direct 0: every batch through the staging table (the path a batch takes after meeting a stored id).
            var direct = options.Long("direct", 1) != 0;
            var database = await Infra.CreateDatabaseAsync("bench_wr");
            try
            {
                await using var app = await Infra.StartHostAsync(database, extra: new() { ["RouteIQ:Telemetry:DirectCopy"] = direct ? "true" : "false" });
                var parser = app.Services.GetRequiredService<DecisionParser>();
                var writer = app.Services.GetRequiredService<IDecisionWriter>();
                var generator = new SyntheticTelemetry(seed: 7);
                var batches = Enumerable.Range(0, (count + batchSize - 1) / batchSize)
                    .Select(b => Enumerable.Range(b * batchSize, Math.Min(batchSize, count - b * batchSize))
                        .Select(i => parser.Parse(generator.Event(i), new DecisionContext(IngestSources.Bus)).Decision!).ToList())
                    .ToList();
                // Warm-up on a throwaway batch of distinct ids is not possible without extra rows: write the first batch untimed.
                await writer.WriteAsync(batches[0], [], CancellationToken.None);
                var cpu = CpuShares.Start();
                var sw = Stopwatch.StartNew();
                var next = 1;
                async Task Worker()
                {
                    while (Interlocked.Increment(ref next) - 1 is var i && i < batches.Count)
                    {
                        await writer.WriteAsync(batches[i], [], CancellationToken.None);
                    }
                }
                await Task.WhenAll(Enumerable.Range(0, parallel).Select(_ => Task.Run(Worker)));
                var elapsed = sw.Elapsed;
                var rows = count - batches[0].Count;
                Console.WriteLine(FormattableString.Invariant(
                    $"writer: {rows} rows in {elapsed.TotalSeconds:F2} s = {rows / elapsed.TotalSeconds:F0} rows/s (batch {batchSize}, {parallel} at a time, {(direct ? "direct COPY" : "staging")}); CPU per row: {cpu.Report(rows)}"));
                return 0;
            }
            finally
            {
                await Infra.DropDatabaseAsync(database);
            }
        }

        public static async Task<int> DatasetAsync(Args options)
        {
            var count = options.Long("count", 1_000_000);
            var database = await Infra.CreateDatabaseAsync("bench_ds");
            var dataDir = Infra.NewDataDir();
            try
            {
                await using var app = await Infra.StartHostAsync(database, dataDir, extra: new Dictionary<string, string?>
                {
                    ["RouteIQ:Telemetry:StoreQueryText"] = "true",
                });
                var parser = app.Services.GetRequiredService<DecisionParser>();
                var writer = app.Services.GetRequiredService<IDecisionWriter>();
                var generator = new SyntheticTelemetry(seed: 96);
                var fill = Stopwatch.StartNew();
                for (long start = 0; start < count; start += 10_000)
                {
                    var batch = new List<RouterDecision>(10_000);
                    for (var i = start; i < Math.Min(count, start + 10_000); i++)
                    {
                        batch.Add(parser.Parse(generator.Event(i), new DecisionContext(IngestSources.File)).Decision!);
                    }
                    await writer.WriteAsync(batch, [], CancellationToken.None);
                }
                Console.WriteLine(FormattableString.Invariant($"stored {count} decisions in {fill.Elapsed.TotalSeconds:F1} s"));

                for (var run = 0; run < options.Long("runs", 3); run++)
                {
                    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
                    GC.WaitForPendingFinalizers();
                    using var process = Process.GetCurrentProcess();
                    var baseline = process.WorkingSet64;
                    long peak = baseline, peakManaged = GC.GetTotalMemory(false);
                    using var sampling = new CancellationTokenSource();
                    var sampler = Task.Run(async () =>
                    {
                        while (!sampling.IsCancellationRequested)
                        {
                            process.Refresh();
                            peak = Math.Max(peak, process.WorkingSet64);
                            peakManaged = Math.Max(peakManaged, GC.GetTotalMemory(false));
                            await Task.Delay(20);
                        }
                    });
                    await using var scope = app.Services.CreateAsyncScope();
                    var builder = scope.ServiceProvider.GetRequiredService<DatasetBuilder>();
                    var sw = Stopwatch.StartNew();
                    var info = await builder.BuildAsync(new DatasetRequest
                    {
                        DatasetId = $"bench-{run}",
                        IncludeRoutingMetadata = true,
                        ModelCatalog = SyntheticTelemetry.Catalog.ToDictionary(kv => kv.Key, kv => kv.Value),
                    });
                    var elapsed = sw.Elapsed;
                    await sampling.CancelAsync();
                    await sampler;
                    Console.WriteLine(FormattableString.Invariant(
                        $"dataset run {run}: {info.TotalRecords} records ({info.UniqueQueries} unique queries) in {elapsed.TotalSeconds:F2} s; process working set {baseline / 1048576.0:F0} MiB before, peak {peak / 1048576.0:F0} MiB (+{(peak - baseline) / 1048576.0:F0} MiB); peak managed heap {peakManaged / 1048576.0:F0} MiB"));
                }
                await app.StopAsync();
            }
            finally
            {
                await Infra.DropDatabaseAsync(database);
                try
                {
                    Directory.Delete(dataDir, recursive: true);
                }
                catch (IOException)
                {
                }
            }
            return 0;
        }
    }
}
