using RouteIQ.TelemetryIngest.Parsing;
using D = RouteIQ.TelemetryIngest.Store.StoreColumns<RouteIQ.TelemetryIngest.Parsing.RouterDecision>;
using F = RouteIQ.TelemetryIngest.Store.StoreColumns<RouteIQ.TelemetryIngest.Parsing.RouterFeedback>;

namespace RouteIQ.TelemetryIngest.Store;

/// <summary>
/// The stored columns of decisions and grades, each once: name, PostgreSQL type and value. The
/// PostgreSQL COPY, the SQLite insert and the dataset build's reader take their column lists from
/// here; a new column is one line in <see cref="Decisions"/> plus its property on
/// <see cref="DecisionRow"/> and a migration (<c>StoreColumnTests</c> checks the table against the EF model).
/// </summary>
public static class DecisionColumns
{
    public static readonly StoreTable<RouterDecision> Decisions = new("decisions",
    [
        D.Text("event_id", d => d.EventId),
        D.Int64("timestamp_ms", d => d.TimestampMs),
        D.IngestedAt("ingested_at_ms"),
        D.Text("source", d => d.Source),
        D.Text("kind", d => d.Kind),
        D.Text("contract_version", d => d.ContractVersion),
        D.Text("trace_id", d => d.TraceId),
        D.Text("span_id", d => d.SpanId),
        D.Text("parent_span_id", d => d.ParentSpanId),
        D.Text("requested_model", d => d.RequestedModel),
        D.Int32("query_length", d => d.QueryLength),
        D.Text("user_id", d => d.UserId),
        D.Text("team_id", d => d.TeamId),
        D.Text("api_type", d => d.ApiType),
        D.Text("strategy_name", d => d.StrategyName),
        D.Text("strategy_version", d => d.StrategyVersion),
        D.Text("selected_deployment", d => d.SelectedDeployment),
        D.Text("selection_reason", d => d.SelectionReason),
        D.Int32("candidate_count", d => d.CandidateCount),
        D.Text("experiment_id", d => d.ExperimentId),
        D.Text("experiment_variant", d => d.ExperimentVariant),
        D.Double("total_ms", d => d.TotalMs),
        D.Double("strategy_ms", d => d.StrategyMs),
        D.Double("embedding_ms", d => d.EmbeddingMs),
        D.Double("candidate_filter_ms", d => d.CandidateFilterMs),
        D.Text("outcome_status", d => d.OutcomeStatus),
        D.Text("error_type", d => d.ErrorType),
        D.Text("error_message", d => d.ErrorMessage),
        D.Int64("input_tokens", d => d.InputTokens),
        D.Int64("output_tokens", d => d.OutputTokens),
        D.Int64("total_tokens", d => d.TotalTokens),
        D.Boolean("fallback_triggered", d => d.FallbackTriggered),
        D.Text("fallback_reason", d => d.FallbackReason),
        D.Text("original_model", d => d.OriginalModel),
        D.Int32("fallback_attempt", d => d.FallbackAttempt),
        D.Double("performance", d => d.Performance),
        D.Text("query_text", d => d.QueryText),
        D.Json("attributes_json", d => d.AttributesJson),
        D.Double("selection_probability", d => d.SelectionProbability),
    ]);

    public static readonly StoreTable<RouterFeedback> Feedback = new("feedback",
    [
        F.Text("feedback_id", f => f.FeedbackId),
        F.Text("decision_event_id", f => f.DecisionEventId),
        F.Text("trace_id", f => f.TraceId),
        F.Text("span_id", f => f.SpanId),
        F.Text("model_name", f => f.ModelName),
        F.Double("score", f => f.Score),
        F.Text("source", f => f.Source),
        F.Text("judge_model", f => f.JudgeModel),
        F.Text("rubric", f => f.Rubric),
        F.Int64("timestamp_ms", f => f.TimestampMs),
        F.IngestedAt("ingested_at_ms"),
        F.Text("ingest_source", f => f.IngestSource),
        F.Text("contract_version", f => f.ContractVersion),
        F.Json("attributes_json", f => f.AttributesJson),
    ]);

    public static string[] Names => Decisions.Names;

    public static string List => Decisions.List;

    /// <summary>The values in <see cref="Names"/> order.</summary>
    public static object?[] Values(RouterDecision d, long ingestedAtMs) => Decisions.Values(d, ingestedAtMs);

    public static string[] FeedbackNames => Feedback.Names;

    public static string FeedbackList => Feedback.List;

    /// <summary>The values in <see cref="FeedbackNames"/> order.</summary>
    public static object?[] FeedbackValues(RouterFeedback f, long ingestedAtMs) => Feedback.Values(f, ingestedAtMs);

    /// <summary>The grades of a batch without repeated feedback ids (the first one stays); the rest are duplicates.</summary>
    public static List<RouterFeedback> DistinctFeedback(IReadOnlyList<RouterFeedback> feedback)
    {
        var ids = new HashSet<string>(feedback.Count, StringComparer.Ordinal);
        var distinct = new List<RouterFeedback>(feedback.Count);
        foreach (var f in feedback)
        {
            if (ids.Add(f.FeedbackId))
            {
                distinct.Add(f);
            }
        }
        return distinct;
    }

    public static readonly string[] RejectedNames = ["received_at_ms", "source", "reason", "raw_body", "event_id"];

    /// <summary>Raw bodies are kept whole up to this size; a larger one (only possible for over-limit bodies) is cut.</summary>
    public const int MaxStoredRawBody = 64 * 1024;

    public static string StoredBody(string raw) => raw.Length <= MaxStoredRawBody ? raw : raw[..MaxStoredRawBody] + "…[truncated]";
}
