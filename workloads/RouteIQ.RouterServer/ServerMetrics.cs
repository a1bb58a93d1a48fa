using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace RouteIQ.RouterServer;

/// <summary>Request counts and a latency histogram, exposed on <c>GET /metrics</c> in the Prometheus text format.</summary>
public sealed class ServerMetrics
{
    private static readonly double[] Buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    private readonly ConcurrentDictionary<(string Path, int Status), long> _requests = new();
    private readonly long[] _bucketCounts = new long[Buckets.Length + 1];
    private long _queries;
    private long _latencyCount;
    private long _latencyMicros;

    public void Record(string path, int status, TimeSpan elapsed, int queries)
    {
        _requests.AddOrUpdate((path, status), 1, (_, n) => n + 1);
        Interlocked.Add(ref _queries, queries);
        Interlocked.Increment(ref _latencyCount);
        Interlocked.Add(ref _latencyMicros, (long)(elapsed.TotalMilliseconds * 1000));
        var seconds = elapsed.TotalSeconds;
        var i = 0;
        while (i < Buckets.Length && seconds > Buckets[i])
        {
            i++;
        }
        Interlocked.Increment(ref _bucketCounts[i]);
    }

    public string Render(ModelHolder holder)
    {
        var sb = new StringBuilder();
        sb.Append("# HELP routeiq_router_requests_total Requests to /invocations by status.\n# TYPE routeiq_router_requests_total counter\n");
        foreach (var ((path, status), n) in _requests.OrderBy(k => k.Key.Path).ThenBy(k => k.Key.Status))
        {
            sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_requests_total{{path=\"{path}\",status=\"{status}\"}} {n}\n");
        }
        sb.Append("# HELP routeiq_router_queries_total Queries routed.\n# TYPE routeiq_router_queries_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_queries_total {Interlocked.Read(ref _queries)}\n");
        sb.Append("# HELP routeiq_router_request_duration_seconds Latency of /invocations.\n# TYPE routeiq_router_request_duration_seconds histogram\n");
        long cumulative = 0;
        for (var i = 0; i < Buckets.Length; i++)
        {
            cumulative += Interlocked.Read(ref _bucketCounts[i]);
            sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_request_duration_seconds_bucket{{le=\"{Buckets[i]}\"}} {cumulative}\n");
        }
        cumulative += Interlocked.Read(ref _bucketCounts[^1]);
        sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n");
        sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_request_duration_seconds_sum {Interlocked.Read(ref _latencyMicros) / 1e6}\n");
        sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_request_duration_seconds_count {Interlocked.Read(ref _latencyCount)}\n");
        sb.Append("# HELP routeiq_router_model_reloads_total Model versions loaded.\n# TYPE routeiq_router_model_reloads_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_model_reloads_total {Interlocked.Read(ref holder.Reloads)}\n");
        sb.Append("# HELP routeiq_router_model_load_failures_total Model versions refused (the served one stays).\n# TYPE routeiq_router_model_load_failures_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_model_load_failures_total {Interlocked.Read(ref holder.LoadFailures)}\n");
        sb.Append("# HELP routeiq_router_manifest_verification_failures_total Model versions refused because manifest.json (signature, file hashes) did not verify.\n# TYPE routeiq_router_manifest_verification_failures_total counter\n");
        sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_manifest_verification_failures_total {Interlocked.Read(ref holder.VerificationFailures)}\n");
        sb.Append("# HELP routeiq_router_model_last_load_failed 1 while the newest version in the model folder was refused.\n# TYPE routeiq_router_model_last_load_failed gauge\n");
        sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_model_last_load_failed {(holder.LastError is null ? 0 : 1)}\n");
        sb.Append("# HELP routeiq_router_model_ready 1 when a model is loaded.\n# TYPE routeiq_router_model_ready gauge\n");
        sb.Append(CultureInfo.InvariantCulture, $"routeiq_router_model_ready {(holder.Current is null ? 0 : 1)}\n");
        return sb.ToString();
    }
}
