namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>Where an event came in.</summary>
public static class IngestSources
{
    public const string Bus = "bus";
    public const string Otlp = "otlp";
    public const string Jaeger = "jaeger";
    public const string File = "file";
    public const string Http = "http";
}

/// <summary>What shape the source record had.</summary>
public static class DecisionKinds
{
    /// <summary>A <c>routeiq.router_decision.v1</c> event.</summary>
    public const string Decision = "decision";

    /// <summary>A legacy gen_ai span (or its JSONL extraction): carries query text, no contract event.</summary>
    public const string Legacy = "legacy";
}

/// <summary>
/// One accepted routing decision, flattened into telemetry-ingest's schema. Nested objects the
/// schema has no column for (candidates, experiment, request metadata, custom attributes and
/// unknown keys) are kept verbatim in <see cref="AttributesJson"/>.
/// </summary>
public sealed class RouterDecision
{
    public required string EventId { get; set; }
    public long TimestampMs { get; set; }
    public string Source { get; set; } = IngestSources.Bus;
    public string Kind { get; set; } = DecisionKinds.Decision;
    public string? ContractVersion { get; set; }
    public string? TraceId { get; set; }
    public string? SpanId { get; set; }
    public string? ParentSpanId { get; set; }
    public string? RequestedModel { get; set; }
    public int? QueryLength { get; set; }
    public string? UserId { get; set; }
    public string? TeamId { get; set; }
    public string? ApiType { get; set; }
    public string? StrategyName { get; set; }
    public string? StrategyVersion { get; set; }
    public string? SelectedDeployment { get; set; }
    public string? SelectionReason { get; set; }
    public int CandidateCount { get; set; }
    public string? ExperimentId { get; set; }
    public string? ExperimentVariant { get; set; }
    public double? TotalMs { get; set; }
    public double? StrategyMs { get; set; }
    public double? EmbeddingMs { get; set; }
    public double? CandidateFilterMs { get; set; }
    public string? OutcomeStatus { get; set; }
    public string? ErrorType { get; set; }
    public string? ErrorMessage { get; set; }
    public long? InputTokens { get; set; }
    public long? OutputTokens { get; set; }
    public long? TotalTokens { get; set; }
    public bool FallbackTriggered { get; set; }
    public string? FallbackReason { get; set; }
    public string? OriginalModel { get; set; }
    public int? FallbackAttempt { get; set; }

    /// <summary>A label the source already carried (labelled uploads, <c>custom_attributes.performance</c>).</summary>
    public double? Performance { get; set; }

    /// <summary><c>custom_attributes.selection_probability</c> when in (0, 1]: the dataset's propensity.</summary>
    public double? SelectionProbability { get; set; }

    /// <summary>Only set when the source carries it and <c>RouteIQ:Telemetry:StoreQueryText</c> is true.</summary>
    public string? QueryText { get; set; }

    /// <summary>JSON object: <c>candidate_deployments</c>, <c>experiment</c>, <c>request_metadata</c>, <c>custom_attributes</c>, <c>extra</c> (unknown keys).</summary>
    public string? AttributesJson { get; set; }
}

/// <summary>An event that was not accepted, with the raw body as received and the reason.</summary>
public sealed record RejectedEvent(string Source, string Reason, string RawBody, string? EventId = null);
