using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Registry;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>
/// A fast serving workload for the promotion tests: Python's threading HTTP server with
/// keep-alive (the busybox server forks a shell per request, too slow for hundreds of requests per
/// canary step). Arguments: the share of invocations answered 500, a delay in seconds added to each, and
/// the share of queries for which this router picks <c>model-b</c> (price 0.003) instead of <c>model-a</c>
/// (price 0.001); the pick depends on the query only (CRC-32 of the body), so two servers with the same
/// share agree on every query and a share of 0.25 against 0 disagrees on about a quarter of them.
/// </summary>
public static class FastTestServer
{
    public const string Script = """
        import http.server, json, os, random, sys, time, zlib
        port = int(os.environ["SERVE_PORT"]); host = os.environ.get("SERVE_HOST", "127.0.0.1")
        version = int(os.environ.get("ROUTEIQ_MODEL_VERSION", "0"))
        fail = float(sys.argv[1]); delay = float(sys.argv[2]); other = float(sys.argv[3])
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args): pass
            def answer(self, code, body):
                data = body.encode()
                self.send_response(code); self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
            def do_GET(self):
                self.answer(200, '{"status":"ok"}') if self.path.startswith("/ping") else self.answer(404, "{}")
            def do_POST(self):
                body = b""
                if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        body += self.rfile.read(size + 2)[:size]
                        if size == 0: break
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if delay: time.sleep(delay)
                if random.random() < fail: return self.answer(500, '{"error":"injected failure"}')
                pick = "model-b" if zlib.crc32(body) % 10000 < other * 10000 else "model-a"
                self.answer(200, json.dumps({"model": pick, "price": 0.003 if pick == "model-b" else 0.001, "version": version}))
        http.server.ThreadingHTTPServer.daemon_threads = True
        http.server.ThreadingHTTPServer.request_queue_size = 256
        http.server.ThreadingHTTPServer((host, port), Handler).serve_forever()
        """;

    public static IReadOnlyList<string> Command(double failShare = 0, double delaySeconds = 0, double otherPickShare = 0) =>
        ["/usr/bin/python3", "-c", Script, Text(failShare), Text(delaySeconds), Text(otherPickShare)];

    private static string Text(double value) => value.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The share of <paramref name="queries"/> a server started with <paramref name="otherPickShare"/> answers with <c>model-b</c>.</summary>
    public static double OtherPickShare(IEnumerable<string> queries, double otherPickShare)
    {
        var list = queries.ToList();
        return list.Count(q => Crc32(System.Text.Encoding.UTF8.GetBytes(q)) % 10000 < otherPickShare * 10000) / (double)list.Count;
    }

    /// <summary>zlib's CRC-32 (what the script's <c>zlib.crc32</c> computes).</summary>
    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
            }
        }
        return ~crc;
    }
}

/// <summary>Every promotion event the bus carried.</summary>
public sealed class PromotionEvents
{
    public ConcurrentQueue<RolloutStepChanged> Steps { get; } = new();
    public ConcurrentQueue<ModelRolledBack> RolledBack { get; } = new();
}

public sealed class PromotionEventObserver(PromotionEvents events) : IConsumer<RolloutStepChanged>, IConsumer<ModelRolledBack>
{
    public Task Consume(ConsumeContext<RolloutStepChanged> context)
    {
        events.Steps.Enqueue(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<ModelRolledBack> context)
    {
        events.RolledBack.Enqueue(context.Message);
        return Task.CompletedTask;
    }
}

public sealed class PromotionEventObserverDefinition : ConsumerDefinition<PromotionEventObserver>
{
    public PromotionEventObserverDefinition() => EndpointName = "rollout-tests.promotion-events";
}

/// <summary>One answer of the stable endpoint as a client saw it.</summary>
/// <param name="SentAt">When the request left the client.</param>
/// <param name="At">When its answer arrived.</param>
public sealed record ClientAnswer(DateTimeOffset At, int Status, int? HeaderVersion, int? BodyVersion, string? Key, string? Error)
{
    public DateTimeOffset SentAt { get; init; } = At;

    /// <summary>From sending the request to reading the whole answer.</summary>
    public double LatencyMs { get; init; }

    /// <summary>The request body sent (each request asks a different query).</summary>
    public string? Query { get; init; }
}

/// <summary>Clients calling the stable endpoint in a loop until stopped (each its own keep-alive connection).</summary>
public sealed class LoadClients : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _loops;

    public ConcurrentQueue<ClientAnswer> Answers { get; } = new();

    /// <param name="keys">Sticky keys sent in <c>X-RouteIQ-User</c>, round-robin per client; null sends none.</param>
    public LoadClients(string publicUrl, string model, int clients, IReadOnlyList<string>? keys = null)
    {
        _loops = Enumerable.Range(0, clients).Select(c => Task.Run(() => LoopAsync(publicUrl, model, c, clients, keys))).ToArray();
    }

    public int Count => Answers.Count;

    public IReadOnlyList<ClientAnswer> Failures => Answers.Where(a => a.Status != 200 || a.Error is not null).ToList();

    private async Task LoopAsync(string publicUrl, string model, int client, int clients, IReadOnlyList<string>? keys)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(publicUrl), Timeout = TimeSpan.FromSeconds(30) };
        for (var i = client; !_stop.IsCancellationRequested; i += clients)
        {
            var key = keys is null ? null : keys[i % keys.Count];
            var sentAt = DateTimeOffset.UtcNow;
            var started = Stopwatch.GetTimestamp();
            var query = $"{{\"query\":\"which model? {i}\"}}";
            try
            {
                // A declared body, as model clients send (JsonContent would stream it chunked).
                using var request = new HttpRequestMessage(HttpMethod.Post, $"/{model}/invocations")
                {
                    Content = new StringContent(query, System.Text.Encoding.UTF8, "application/json"),
                };
                if (key is not null)
                {
                    request.Headers.Add("X-RouteIQ-User", key);
                }
                using var response = await http.SendAsync(request, CancellationToken.None);
                var body = await response.Content.ReadAsStringAsync(CancellationToken.None);
                int? header = response.Headers.TryGetValues("X-RouteIQ-Model-Version", out var values) && int.TryParse(values.First(), out var h) ? h : null;
                int? bodyVersion = null;
                if (response.IsSuccessStatusCode)
                {
                    bodyVersion = JsonDocument.Parse(body).RootElement.GetProperty("version").GetInt32();
                }
                Answers.Enqueue(new ClientAnswer(DateTimeOffset.UtcNow, (int)response.StatusCode, header, bodyVersion, key, response.IsSuccessStatusCode ? null : body)
                {
                    SentAt = sentAt, LatencyMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds, Query = query,
                });
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
            {
                Answers.Enqueue(new ClientAnswer(DateTimeOffset.UtcNow, 0, null, null, key, ex.Message) { SentAt = sentAt, Query = query });
            }
        }
    }

    private int _disposed;

    /// <summary>Stops the clients and waits for their last answers (the tests stop them before they assert; idempotent).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stop.CancelAsync();
        await Task.WhenAll(_loops);
        _stop.Dispose();
    }
}

public static class PromotionTestKit
{
    /// <summary>Registers a version with these metrics (what the trainer's metrics.json held).</summary>
    public static async Task<int> RegisterAsync(RolloutTestHost host, string model, IReadOnlyDictionary<string, double>? metrics = null)
    {
        var message = await host.WriteRunOutputAsync(model, $"{{\"model\":\"{model}\",\"n\":\"{Guid.NewGuid():N}\"}}", serveCommand: FastTestServer.Command());
        if (metrics is not null)
        {
            message = message with { Metrics = metrics };
        }
        await host.Bus.Publish(message);
        return await host.WaitRegisteredAsync(message.JobId);
    }

    /// <summary>Registers two versions and rolls the first out plainly: production v1, candidate v2.</summary>
    public static async Task<(int V1, int V2)> ProductionAndCandidateAsync(RolloutTestHost host, string model)
    {
        var v1 = await RegisterAsync(host, model);
        var v2 = await RegisterAsync(host, model);
        RolloutTestHost.Succeeded(await host.Outcomes.WaitAsync(await PublishRollAsync(host, model, v1, null), TimeSpan.FromSeconds(60)));
        return (v1, v2);
    }

    public static async Task<Guid> PublishRollAsync(RolloutTestHost host, string model, int version, Promotion? promotion, IReadOnlyList<string>? serveCommand = null)
    {
        var job = Guid.NewGuid();
        await host.Bus.Publish(new RollRequested
        {
            JobId = job,
            ModelName = model,
            Ref = version.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ServeImage = "test-serve",
            ServeCommand = serveCommand ?? FastTestServer.Command(),
            WaitReadySeconds = 30,
            Promotion = promotion,
            RequestedAt = DateTimeOffset.UtcNow,
        });
        return job;
    }

    public static async Task<RolloutRecord?> RecordAsync(RolloutTestHost host, Guid id)
    {
        var factory = host.Services.GetRequiredService<IDbContextFactory<RegistryDbContext>>();
        await using var db = await factory.CreateDbContextAsync();
        return await db.Rollouts.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id);
    }

    public static Task WaitStateAsync(RolloutTestHost host, Guid id, Func<RolloutRecord, bool> condition, string what, double seconds = 60)
        => TestInfra.WaitUntilAsync(async () => await RecordAsync(host, id) is { } r && condition(r), TimeSpan.FromSeconds(seconds), what);

    /// <summary>Waits until the clients made <paramref name="count"/> more requests.</summary>
    public static Task WaitRequestsAsync(LoadClients clients, int count, double seconds = 60)
    {
        var target = clients.Count + count;
        return TestInfra.WaitUntilAsync(() => Task.FromResult(clients.Count >= target), TimeSpan.FromSeconds(seconds), $"{count} more client requests");
    }

    public static string Describe(IEnumerable<ClientAnswer> failures)
        => string.Join("\n", failures.Take(5).Select(f => $"{f.Status} {f.Error}"));

    public static long Now() => Stopwatch.GetTimestamp();
}
