using System.ComponentModel.DataAnnotations;

namespace RouteIQ.Rollout;

/// <summary>Settings of the rollout service (section <c>RouteIQ:Rollout</c>).</summary>
public sealed class RolloutOptions
{
    public const string Section = "RouteIQ:Rollout";

    /// <summary>The stable endpoint: a reverse proxy in front of the active serving workloads.</summary>
    [Required]
    [Url]
    public string PublicUrl { get; set; } = "http://127.0.0.1:9000";

    /// <summary>
    /// <c>Process</c> (default): the stable endpoint is a small process of its own that rollout
    /// starts, feeds with route changes and restarts if it dies; its request path runs without
    /// thread-pool hops. <c>InProcess</c>: a server inside rollout's process.
    /// </summary>
    public Serving.StableEndpointMode StableEndpointMode { get; set; } = Serving.StableEndpointMode.Process;

    /// <summary>
    /// Environment of the stable endpoint process, over its defaults
    /// (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>, <c>DOTNET_gcServer=0</c>): runtime tuning for the proxy alone.
    /// </summary>
    public Dictionary<string, string> EdgeEnvironment { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Alias a roll moves when the request names none.</summary>
    [Required]
    [RegularExpression(@"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\z")]
    public string DefaultAlias { get; set; } = "production";

    /// <summary>How long the old server keeps serving in-flight requests after the switch. Env fallback: <c>DRAIN_GRACE_SEC</c>.</summary>
    [Range(0, 600)]
    public double? DrainGraceSeconds { get; set; }

    /// <summary>Interval of the <c>GET /ping</c> readiness probe of a candidate.</summary>
    [Range(50, 10_000)]
    public int ProbeIntervalMilliseconds { get; set; } = 500;

    /// <summary>Serve image used when neither the request nor the training run named one. Env fallback: <c>SERVE_IMAGE</c>.</summary>
    public string? ServeImage { get; set; }

    /// <summary>
    /// Address serving workloads bind (<c>SERVE_HOST</c>). Default: <c>127.0.0.1</c> for local
    /// processes (embedded mode: rollout probes and forwards over loopback, nothing else should
    /// reach a model server), the server's own default for containers (a bridge network needs it).
    /// </summary>
    [RegularExpression(@"^[0-9A-Za-z.:\[\]-]{1,255}\z")]
    public string? ServeHost { get; set; }

    /// <summary>Added to every serving workload's environment (e.g. S3 endpoint and credentials).</summary>
    public Dictionary<string, string> ServeEnvironment { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Seconds a serving workload gets to stop on SIGTERM before it is killed.</summary>
    [Range(0, 300)]
    public double StopGraceSeconds { get; set; } = 5;

    /// <summary>Stop every serving workload of this node when rollout shuts down (embedded use); by default they keep serving and a restarted rollout adopts them.</summary>
    public bool StopServersOnShutdown { get; set; }

    /// <summary>How often active servers are probed; one that fails two probes in a row is replaced from the same version. 0 = off.</summary>
    [Range(0, 3600)]
    public double SupervisionSeconds { get; set; } = 10;

    public SigningOptions Signing { get; set; } = new();

    /// <summary>How long the stable endpoint waits for a canary or shadow candidate's answer before it counts as a timeout (and the baseline answers).</summary>
    [Range(50, 600_000)]
    public int CandidateTimeoutMilliseconds { get; set; } = 10_000;

    /// <summary>p99 latencies below this count as this when a canary's p99 ratio is judged (scheduler noise on tiny latencies is no regression).</summary>
    [Range(0, 10_000)]
    public double LatencyFloorMilliseconds { get; set; } = 10;

    /// <summary>How often a running canary or shadow step is judged.</summary>
    [Range(20, 10_000)]
    public int JudgeIntervalMilliseconds { get; set; } = 200;

    /// <summary>
    /// Test hook: <c>before-publish</c>, <c>after-publish</c> or <c>after-switch</c> makes the
    /// process die abruptly at that step of the next roll, to prove restart safety.
    /// </summary>
    [RegularExpression(@"^(before-publish|after-publish|after-switch)?\z")]
    public string? CrashAt { get; set; }

    public sealed class SigningOptions
    {
        /// <summary>Secret for <c>hmac-sha256</c> manifests. Never logged.</summary>
        public string? HmacKey { get; set; }

        /// <summary>PEM (PKCS#8) or raw 32-byte Ed25519 private key file for <c>ed25519</c> manifests.</summary>
        public string? Ed25519PrivateKeyPath { get; set; }

        public override string ToString() => "(redacted)";
    }
}
