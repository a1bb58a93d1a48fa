using System.ComponentModel.DataAnnotations;

namespace RouteIQ.TelemetryIngest;

/// <summary>telemetry-ingest's settings (section <c>RouteIQ:Telemetry</c>).</summary>
public sealed class TelemetryIngestOptions
{
    public const string Section = "RouteIQ:Telemetry";

    /// <summary>Store query text when a source carries it (legacy spans, <c>query_text</c> attributes). Off by default (privacy).</summary>
    public bool StoreQueryText { get; set; }

    /// <summary>Events per database batch (RabbitMQ input; HTTP inputs write one batch per request).</summary>
    [Range(1, 50_000)]
    public int BatchSize { get; set; } = 2000;

    /// <summary>
    /// PostgreSQL: a batch with distinct event ids is COPYed straight into <c>decisions</c>, and
    /// written through the staging table + <c>ON CONFLICT DO NOTHING</c> only when an id is
    /// already stored (then also the next few batches). Off: every batch goes through staging.
    /// </summary>
    public bool DirectCopy { get; set; } = true;

    /// <summary>How long a partial RabbitMQ batch may wait for more events before it is written.</summary>
    [Range(1, 10_000)]
    public int FlushIntervalMs { get; set; } = 50;

    /// <summary>Unacknowledged deliveries the broker may send ahead; default three batches (one committing, one filling, one arriving).</summary>
    [Range(0, 65_535)]
    public int Prefetch { get; set; }

    public int EffectivePrefetch => Prefetch > 0 ? Prefetch : Math.Min(65_535, BatchSize * 3);

    /// <summary>The fanout exchange producers publish raw JSON to (any routing key).</summary>
    [Required]
    public string Exchange { get; set; } = "routeiq.router_decision.v1";

    [Required]
    public string Queue { get; set; } = "telemetry-ingest.router-decisions";

    /// <summary>The fanout exchange graders publish raw <c>routeiq.router_feedback.v1</c> JSON to (any routing key).</summary>
    [Required]
    public string FeedbackExchange { get; set; } = "routeiq.router_feedback.v1";

    [Required]
    public string FeedbackQueue { get; set; } = "telemetry-ingest.router-feedback";

    /// <summary>Largest decompressed OTLP request accepted (gzip bodies can expand).</summary>
    [Range(1024, 256L * 1024 * 1024)]
    public long MaxDecompressedBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>How far ahead of this clock an event's timestamp may be before it is rejected (clock skew of gateways).</summary>
    [Range(0, 365L * 86_400)]
    public long MaxFutureSkewSeconds { get; set; } = 7 * 86_400;

    /// <summary>Rejected events kept at most (the oldest go first), so a flood of bad input cannot fill the disk.</summary>
    [Range(1, 100_000_000)]
    public long RejectedMaxRows { get; set; } = 100_000;

    /// <summary>Rejected events older than this are deleted.</summary>
    [Range(1, 24 * 3650)]
    public int RejectedMaxAgeHours { get; set; } = 7 * 24;

    /// <summary>How often the rejected-events caps are applied.</summary>
    [Range(1, 86_400)]
    public int RejectedPruneSeconds { get; set; } = 10;

    /// <summary>
    /// Jaeger query services a backfill may call (<c>host</c> or <c>host:port</c>, case-insensitive).
    /// Empty: loopback only. The admin API would otherwise fetch any URL it is given.
    /// </summary>
    public List<string> JaegerHosts { get; set; } = [];

    /// <summary>Largest Jaeger response read; a larger one is refused while it streams in.</summary>
    [Range(1024, 4L * 1024 * 1024 * 1024)]
    public long JaegerMaxResponseBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>The model catalogue datasets take prices and quality scores from (LLMRouter candidates JSON).</summary>
    public string? ModelCatalogPath { get; set; }
}
