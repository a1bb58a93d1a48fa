using System.Buffers;
using System.Text.Json;
using static RouteIQ.TelemetryIngest.Parsing.JsonFields;

namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>
/// The older format the parser still accepts: the record extract_jaeger_traces.py wrote for a
/// legacy gen_ai span (<see cref="LegacyRecord"/>), either as a JSONL object or built from a
/// Jaeger span's tags. Its keys are read by <see cref="ReadKey"/> in the same pass as the contract's
/// (on a contract event they are kept as extras); a record becomes a decision of kind
/// <see cref="DecisionKinds.Legacy"/> by <see cref="ToDecision"/>.
/// </summary>
internal static class LegacyReader
{
    /// <summary>The keys of a legacy record (what extract_jaeger_traces.py writes); kept as extras on contract events.</summary>
    public static bool ReadKey(ref Utf8JsonReader reader, ReadOnlySpan<byte> name, ref ParseState s)
    {
        var start = (int)reader.TokenStartIndex;
        ref var l = ref s.Legacy;
        switch (name)
        {
            case var n when n.SequenceEqual("query"u8):
                l.Query = ReadString(ref reader, "query");
                break;
            case var n when n.SequenceEqual("model_name"u8):
                l.Model = ReadString(ref reader, "model_name");
                break;
            case var n when n.SequenceEqual("response_time"u8):
                l.ResponseTimeS = ReadDouble(ref reader, "response_time");
                break;
            case var n when n.SequenceEqual("token_num"u8):
                l.TotalTokens = ReadInt64(ref reader, "token_num");
                break;
            case var n when n.SequenceEqual("input_tokens"u8):
                l.InputTokens = ReadInt64(ref reader, "input_tokens");
                break;
            case var n when n.SequenceEqual("output_tokens"u8):
                l.OutputTokens = ReadInt64(ref reader, "output_tokens");
                break;
            case var n when n.SequenceEqual("task_name"u8):
                l.TaskName = ReadString(ref reader, "task_name");
                break;
            case var n when n.SequenceEqual("timestamp"u8):
                l.TimestampUs = ReadInt64(ref reader, "timestamp");
                break;
            case var n when n.SequenceEqual("performance"u8):
                l.Performance = ReadDouble(ref reader, "performance");
                break;
            case var n when n.SequenceEqual("response"u8) || n.SequenceEqual("ground_truth"u8):
                // Response text is never stored (privacy); it is not needed for routing labels.
                reader.Skip();
                return true;
            default:
                return false;
        }
        l.HasAny |= name.SequenceEqual("model_name"u8) || name.SequenceEqual("query"u8);
        (s.LegacyKeys ??= []).Add((StrictUtf8.GetString(name), start, (int)reader.BytesConsumed));
        return true;
    }

    /// <summary>
    /// A parsed object that was a legacy record (no <c>contract_name</c>, but a <c>query</c> or
    /// <c>model_name</c>) as a <see cref="LegacyRecord"/>; the keys it does not know become
    /// <paramref name="extraJson"/>.
    /// </summary>
    public static LegacyRecord ToRecord(ref ParseState s, ReadOnlySpan<byte> json, in DecisionContext context, out string? extraJson)
    {
        var l = s.Legacy;
        string? extra = null;
        if (s.Unknown is { Count: > 0 } unknown)
        {
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                foreach (var (name, start, end) in unknown)
                {
                    writer.WritePropertyName(name);
                    writer.WriteRawValue(json[start..end], skipInputValidation: true);
                }
                writer.WriteEndObject();
            }
            extra = StrictUtf8.GetString(buffer.WrittenSpan);
        }
        extraJson = extra;
        return new LegacyRecord
        {
            Query = l.Query,
            Model = l.Model,
            LatencyMs = l.ResponseTimeS * 1000,
            TotalTokens = l.TotalTokens,
            InputTokens = l.InputTokens,
            OutputTokens = l.OutputTokens,
            TaskName = l.TaskName,
            TraceId = s.Decision.TraceId ?? context.TraceId,
            SpanId = s.Decision.SpanId ?? context.SpanId,
            TimestampMs = l.TimestampUs / 1000 ?? context.TimestampMs,
            Performance = l.Performance,
        };
    }

    /// <summary>A legacy record <see cref="DecisionValidator.LegacyProblem"/> accepts, as a decision.</summary>
    public static RouterDecision ToDecision(LegacyRecord legacy, string source, string? extraJson, long nowMs, bool storeQueryText)
    {
        var eventId = legacy.TraceId is not null && legacy.SpanId is not null
            ? DecisionParser.DeriveId("legacy", legacy.TraceId, legacy.SpanId)
            : DecisionParser.DeriveId("legacy", legacy.Query ?? "", legacy.Model + ":" + legacy.TimestampMs);
        return new RouterDecision
        {
            EventId = eventId,
            Source = source,
            Kind = DecisionKinds.Legacy,
            TimestampMs = legacy.TimestampMs ?? nowMs,
            TraceId = legacy.TraceId?.ToLowerInvariant(),
            SpanId = legacy.SpanId?.ToLowerInvariant(),
            RequestedModel = legacy.Model,
            SelectedDeployment = legacy.Model,
            QueryLength = legacy.Query?.Length,
            StrategyName = legacy.TaskName is null ? null : "legacy",
            TotalMs = legacy.LatencyMs,
            OutcomeStatus = legacy.Failed ? "error" : "success",
            InputTokens = legacy.InputTokens,
            OutputTokens = legacy.OutputTokens,
            TotalTokens = legacy.TotalTokens ?? (legacy.InputTokens + legacy.OutputTokens),
            Performance = legacy.Performance,
            QueryText = storeQueryText ? legacy.Query : null,
            CandidateCount = 1,
            AttributesJson = BuildLegacyAttributes(legacy.TaskName, extraJson),
        };
    }

    private static string? BuildLegacyAttributes(string? taskName, string? extraJson)
    {
        if (taskName is null && extraJson is null)
        {
            return null;
        }
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (taskName is not null)
            {
                writer.WriteStartObject("custom_attributes");
                writer.WriteString("task_name", taskName);
                writer.WriteEndObject();
            }
            if (extraJson is not null)
            {
                writer.WritePropertyName("extra");
                writer.WriteRawValue(extraJson, skipInputValidation: true);
            }
            writer.WriteEndObject();
        }
        return StrictUtf8.GetString(buffer.WrittenSpan);
    }
}

/// <summary>The keys of the legacy record one parse has met (see <see cref="LegacyRecord"/>).</summary>
internal struct LegacyFields
{
    public bool HasAny;
    public string? Query;
    public string? Model;
    public double? ResponseTimeS;
    public long? TotalTokens;
    public long? InputTokens;
    public long? OutputTokens;
    public string? TaskName;
    public long? TimestampUs;
    public double? Performance;
}

/// <summary>
/// The legacy trace form: a span with <c>gen_ai.*</c> tags (Jaeger) or the record
/// extract_jaeger_traces.py wrote for it (JSONL: <c>query</c>, <c>model_name</c>,
/// <c>response_time</c> in seconds, <c>token_num</c>, <c>input_tokens</c>, <c>output_tokens</c>,
/// <c>task_name</c>, <c>trace_id</c>, <c>span_id</c>, <c>timestamp</c> in µs, <c>performance</c>).
/// </summary>
public sealed record LegacyRecord
{
    public string? Query { get; init; }
    public string? Model { get; init; }
    public double? LatencyMs { get; init; }
    public long? TotalTokens { get; init; }
    public long? InputTokens { get; init; }
    public long? OutputTokens { get; init; }
    public string? TaskName { get; init; }
    public string? TraceId { get; init; }
    public string? SpanId { get; init; }
    public long? TimestampMs { get; init; }
    public double? Performance { get; init; }
    public bool Failed { get; init; }
}
