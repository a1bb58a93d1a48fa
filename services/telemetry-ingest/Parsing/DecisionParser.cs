using System.Buffers;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>Values an input knows about an event beyond its JSON (the span around an OTLP event, the delivery time).</summary>
public readonly record struct DecisionContext(string Source, string? TraceId = null, string? SpanId = null, long? TimestampMs = null);

/// <summary>
/// The one parser every input shares: reads a <c>routeiq.router_decision.v1</c> object (or a
/// legacy JSONL record, see <see cref="LegacyRecord"/>) with <see cref="Utf8JsonReader"/> in a
/// single pass, validates it against the contract's acceptance rules, and returns either a
/// <see cref="RouterDecision"/> or a rejection reason naming the field. It never throws for
/// bad input. Thread-safe.
/// </summary>
public sealed class DecisionParser(TelemetryIngestOptions options, TimeProvider timeProvider)
{
    public const string ContractPrefix = "routeiq.router_decision";
    public const string ContractName = "routeiq.router_decision.v1";
    public const string PayloadAttribute = "routeiq.router_decision.payload";
    public const int MaxEventBytes = 1024 * 1024;

    public static readonly IReadOnlyList<string> OutcomeStatuses = ["success", "failure", "fallback", "error", "no_candidates", "timeout"];
    public static readonly IReadOnlyList<string> ContractVersions = ["v1", "v1.0", "v1.1"];

    /// <summary>
    /// Raw slices (unknown keys, verbatim objects) are copied without being transcoded by the
    /// reader: decoding them strictly rejects invalid UTF-8 instead of storing replacement characters.
    /// Same cost as the default decoder on valid text.
    /// </summary>
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

    public bool StoreQueryText => options.StoreQueryText;

    public ParseResult Parse(ReadOnlySpan<byte> json, in DecisionContext context)
    {
        if (json.Length > MaxEventBytes)
        {
            return ParseResult.Reject($"event is {json.Length} bytes, over the 1 MiB limit");
        }
        try
        {
            var reader = new Utf8JsonReader(json, ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return ParseResult.Reject("expected a JSON object");
            }
            var state = new State();
            Scratch.Current.Begin();
            ReadTopLevel(ref reader, json, ref state);
            if (reader.Read())
            {
                return ParseResult.Reject("malformed JSON: unexpected data after the object");
            }
            return state.ContractNameSeen || !state.Legacy.HasAny
                ? Finish(ref state, json, context)
                : FinishLegacy(ref state, json, context);
        }
        catch (RejectException ex)
        {
            return ParseResult.Reject(ex.Message);
        }
        catch (JsonException ex)
        {
            return ParseResult.Reject($"malformed JSON: {FirstSentence(ex.Message)}");
        }
        catch (InvalidOperationException ex)
        {
            // Utf8JsonReader transcodes strings lazily: invalid UTF-8 inside a string value
            // surfaces here (GetString/CopyString), not as a JsonException.
            return ParseResult.Reject($"malformed JSON: {FirstSentence(ex.Message)}");
        }
        catch (DecoderFallbackException)
        {
            return ParseResult.Reject("malformed JSON: invalid UTF-8");
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
        {
            // Whatever else bad bytes can raise: the parser only accepts or rejects.
            return ParseResult.Reject($"malformed input: {FirstSentence(ex.Message)}");
        }
        finally
        {
            Scratch.End();
        }
    }

    public ParseResult Parse(string json, in DecisionContext context)
    {
        var max = Encoding.UTF8.GetMaxByteCount(json.Length);
        var rented = ArrayPool<byte>.Shared.Rent(Math.Min(max, MaxEventBytes + 4));
        try
        {
            if (Encoding.UTF8.GetByteCount(json) > MaxEventBytes)
            {
                return ParseResult.Reject($"event is over the 1 MiB limit");
            }
            var length = Encoding.UTF8.GetBytes(json, rented);
            return Parse(rented.AsSpan(0, length), context);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>A legacy gen_ai span (Jaeger tags) or an extracted legacy record, as a decision; never throws for bad input.</summary>
    public ParseResult FromLegacy(LegacyRecord legacy, string source, string? extraJson = null)
    {
        try
        {
            return FromLegacyCore(legacy, source, extraJson);
        }
        catch (ArgumentException ex)
        {
            // A string JSON cannot carry (a lone surrogate from an escaped \ud800).
            return ParseResult.Reject($"malformed input: {FirstSentence(ex.Message)}");
        }
    }

    private ParseResult FromLegacyCore(LegacyRecord legacy, string source, string? extraJson)
    {
        if (string.IsNullOrEmpty(legacy.Model))
        {
            return ParseResult.Reject("legacy span: gen_ai.response.model / gen_ai.request.model missing");
        }
        if (legacy.TraceId is { } t && !IsHex(t, 32))
        {
            return ParseResult.Reject("trace_id: expected 32 hex characters");
        }
        if (legacy.SpanId is { } s && !IsHex(s, 16))
        {
            return ParseResult.Reject("span_id: expected 16 hex characters");
        }
        if (CheckCounts(legacy.InputTokens, legacy.OutputTokens, legacy.TotalTokens, "input_tokens", "output_tokens", "token_num") is { } countError)
        {
            return ParseResult.Reject(countError);
        }
        if (legacy.TimestampMs is { } legacyTs && CheckTimestamp(legacyTs, "timestamp") is { } tsError)
        {
            return ParseResult.Reject(tsError);
        }
        var eventId = legacy.TraceId is not null && legacy.SpanId is not null
            ? DeriveId("legacy", legacy.TraceId, legacy.SpanId)
            : DeriveId("legacy", legacy.Query ?? "", legacy.Model + ":" + legacy.TimestampMs);
        var decision = new RouterDecision
        {
            EventId = eventId,
            Source = source,
            Kind = DecisionKinds.Legacy,
            TimestampMs = legacy.TimestampMs ?? timeProvider.GetUtcNow().ToUnixTimeMilliseconds(),
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
            QueryText = options.StoreQueryText ? legacy.Query : null,
            CandidateCount = 1,
            AttributesJson = BuildLegacyAttributes(legacy.TaskName, extraJson),
        };
        return ParseResult.Accept(decision);
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

    private ParseResult Finish(ref State s, ReadOnlySpan<byte> json, in DecisionContext context)
    {
        var d = s.Decision;
        if (!s.ContractNameSeen || s.ContractName is null)
        {
            throw new RejectException("contract_name: missing (expected routeiq.router_decision.v1)");
        }
        if (!s.ContractName.StartsWith(ContractPrefix, StringComparison.Ordinal))
        {
            throw new RejectException($"contract_name: '{Truncate(s.ContractName)}' is not a routeiq.router_decision contract");
        }
        var version = d.ContractVersion ?? "v1";
        if (!ContractVersions.Contains(version))
        {
            throw new RejectException($"contract_version: unsupported version '{Truncate(version)}' (supported: v1, v1.0, v1.1)");
        }
        d.ContractVersion = version;
        if (d.OutcomeStatus is { } status && !OutcomeStatuses.Contains(status))
        {
            throw new RejectException($"outcome.status: unknown value '{Truncate(status)}' (expected one of {string.Join(", ", OutcomeStatuses)})");
        }

        d.TraceId ??= context.TraceId;
        d.SpanId ??= context.SpanId;
        d.Source = context.Source;
        d.TimestampMs = s.TimestampUnixMs ?? s.TimestampUtcMs ?? context.TimestampMs ?? timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var timestampField = s.TimestampUnixMs is not null ? "timestamp_unix_ms"
            : s.TimestampUtcMs is not null ? "timestamp_utc"
            : context.TimestampMs is not null ? "time_unix_nano" : null;
        if (timestampField is not null && CheckTimestamp(d.TimestampMs, timestampField) is { } tsError)
        {
            throw new RejectException(tsError);
        }
        if (CheckCounts(d.InputTokens, d.OutputTokens, d.TotalTokens, "outcome.input_tokens", "outcome.output_tokens", "outcome.total_tokens") is { } countError)
        {
            throw new RejectException(countError);
        }
        if (string.IsNullOrEmpty(s.EventId))
        {
            // No event_id: the same event must still dedupe on redelivery, so the id is derived
            // from what identifies it (its span, else its exact bytes).
            d.EventId = d.TraceId is not null && d.SpanId is not null
                ? DeriveId("decision", d.TraceId, d.SpanId + ":" + d.TimestampMs)
                : DeriveId("body", Convert.ToHexStringLower(SHA256.HashData(json)), "");
        }
        else
        {
            d.EventId = s.EventId;
        }
        d.QueryText = options.StoreQueryText ? s.QueryText : null;
        d.Performance ??= s.Performance ?? s.Legacy.Performance;
        d.SelectionProbability = s.SelectionProbability;
        d.AttributesJson = BuildAttributes(ref s, json);
        return ParseResult.Accept(d);
    }

    private ParseResult FinishLegacy(ref State s, ReadOnlySpan<byte> json, in DecisionContext context)
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
        var record = new LegacyRecord
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
        return FromLegacyCore(record, context.Source, extra);
    }

    private static string? BuildAttributes(ref State s, ReadOnlySpan<byte> json)
    {
        var hasUnknown = s.Unknown is { Count: > 0 } || s.LegacyKeys is { Count: > 0 };
        if (s.Candidates is null && s.Experiment is null && s.RequestMetadata is null && s.CustomAttributes is null && !hasUnknown)
        {
            return null;
        }
        var scratch = Scratch.Current;
        var writer = scratch.OutputWriter();
        writer.WriteStartObject();
        WriteSlice(writer, "candidate_deployments", s.Candidates, json);
        WriteSlice(writer, "experiment", s.Experiment, json);
        var copies = scratch.Copies.WrittenSpan;
        if (s.RequestMetadata is { } metadata)
        {
            writer.WritePropertyName("request_metadata");
            writer.WriteRawValue(copies[metadata], skipInputValidation: true);
        }
        if (s.CustomAttributes is { } custom)
        {
            writer.WritePropertyName("custom_attributes");
            writer.WriteRawValue(copies[custom], skipInputValidation: true);
        }
        if (hasUnknown)
        {
            writer.WriteStartObject("extra");
            foreach (var list in new[] { s.Unknown, s.LegacyKeys })
            {
                foreach (var (name, start, end) in list ?? [])
                {
                    writer.WritePropertyName(name);
                    writer.WriteRawValue(json[start..end], skipInputValidation: true);
                }
            }
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
        writer.Flush();
        return StrictUtf8.GetString(scratch.Output.WrittenSpan);
    }

    /// <summary>Largest token count accepted: sums over billions of events must still fit a 64-bit total.</summary>
    public const long MaxTokenCount = 1_000_000_000_000;

    /// <summary>Token counts are counts: a negative one turned summary totals negative, a huge one overflows them.</summary>
    private static string? CheckCounts(long? input, long? output, long? total, string inputField, string outputField, string totalField)
        => CheckCount(input, inputField) ?? CheckCount(output, outputField) ?? CheckCount(total, totalField);

    private static string? CheckCount(long? value, string field)
        => value is not { } v || v is >= 0 and <= MaxTokenCount ? null
            : v < 0 ? $"{field}: must not be negative (got {v})"
            : $"{field}: over {MaxTokenCount} (got {v})";

    /// <summary>Event times before 1970 or further ahead than the allowed clock skew are rejected, naming the field.</summary>
    private string? CheckTimestamp(long timestampMs, string field)
    {
        if (timestampMs < 0)
        {
            return $"{field}: before 1970-01-01 (epoch milliseconds {timestampMs})";
        }
        var latest = timeProvider.GetUtcNow().ToUnixTimeMilliseconds() + options.MaxFutureSkewSeconds * 1000L;
        return timestampMs > latest
            ? $"{field}: more than {options.MaxFutureSkewSeconds} s in the future (epoch milliseconds {timestampMs})"
            : null;
    }

    private static void WriteSlice(Utf8JsonWriter writer, string name, (int Start, int End)? range, ReadOnlySpan<byte> json)
    {
        if (range is { } r)
        {
            writer.WritePropertyName(name);
            writer.WriteRawValue(json[r.Start..r.End], skipInputValidation: true);
        }
    }

    private void ReadTopLevel(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, ref State s)
    {
        var d = s.Decision;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            ReadOnlySpan<byte> nameSpan = reader.ValueIsEscaped ? Encoding.UTF8.GetBytes(reader.GetString()!) : reader.ValueSpan;
            reader.Read();
            switch (nameSpan)
            {
                case var n when n.SequenceEqual("contract_name"u8):
                    s.ContractNameSeen = true;
                    s.ContractName = ReadValue(ref reader, "contract_name");
                    break;
                case var n when n.SequenceEqual("contract_version"u8):
                    d.ContractVersion = ReadValue(ref reader, "contract_version");
                    break;
                case var n when n.SequenceEqual("event_id"u8):
                    s.EventId = ReadEventId(ref reader);
                    break;
                case var n when n.SequenceEqual("trace_id"u8):
                    d.TraceId = ReadHexId(ref reader, "trace_id", 32);
                    break;
                case var n when n.SequenceEqual("span_id"u8):
                    d.SpanId = ReadHexId(ref reader, "span_id", 16);
                    break;
                case var n when n.SequenceEqual("parent_span_id"u8):
                    d.ParentSpanId = ReadHexId(ref reader, "parent_span_id", 16);
                    break;
                case var n when n.SequenceEqual("timestamp_utc"u8):
                    s.TimestampUtcMs = ReadTimestamp(ref reader, "timestamp_utc");
                    break;
                case var n when n.SequenceEqual("timestamp_unix_ms"u8):
                    s.TimestampUnixMs = ReadInt64(ref reader, "timestamp_unix_ms");
                    break;
                case var n when n.SequenceEqual("input"u8):
                    ReadInput(ref reader, json, ref s);
                    break;
                case var n when n.SequenceEqual("strategy_name"u8):
                    d.StrategyName = ReadValue(ref reader, "strategy_name");
                    break;
                case var n when n.SequenceEqual("strategy_version"u8):
                    d.StrategyVersion = ReadValue(ref reader, "strategy_version");
                    break;
                case var n when n.SequenceEqual("candidate_deployments"u8):
                    s.Candidates = ReadCandidates(ref reader, json, out var count);
                    d.CandidateCount = count;
                    break;
                case var n when n.SequenceEqual("selected_deployment"u8):
                    d.SelectedDeployment = ReadValue(ref reader, "selected_deployment");
                    break;
                case var n when n.SequenceEqual("selection_reason"u8):
                    d.SelectionReason = ReadValue(ref reader, "selection_reason");
                    break;
                case var n when n.SequenceEqual("experiment"u8):
                    s.Experiment = ReadExperiment(ref reader, json, d);
                    break;
                case var n when n.SequenceEqual("timings"u8):
                    ReadTimings(ref reader, d);
                    break;
                case var n when n.SequenceEqual("outcome"u8):
                    ReadOutcome(ref reader, d);
                    break;
                case var n when n.SequenceEqual("fallback"u8):
                    ReadFallback(ref reader, d);
                    break;
                case var n when n.SequenceEqual("custom_attributes"u8):
                    s.CustomAttributes = CopyObject(ref reader, json, "custom_attributes", ref s);
                    break;
                default:
                    if (!ReadLegacyKey(ref reader, json, nameSpan, ref s))
                    {
                        var start = (int)reader.TokenStartIndex;
                        reader.Skip();
                        (s.Unknown ??= []).Add((StrictUtf8.GetString(nameSpan), start, (int)reader.BytesConsumed));
                    }
                    break;
            }
        }
        if (reader.TokenType != JsonTokenType.EndObject)
        {
            throw new JsonException("unterminated object");
        }
    }

    /// <summary>The keys of a legacy record (what extract_jaeger_traces.py writes); kept as extras on contract events.</summary>
    private static bool ReadLegacyKey(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, ReadOnlySpan<byte> name, ref State s)
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

    private static void ReadInput(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, ref State s)
    {
        if (!BeginObject(ref reader, "input"))
        {
            return;
        }
        var d = s.Decision;
        Span<char> buffer = stackalloc char[NameBufferLength];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = PropertyName(in reader, buffer);
            reader.Read();
            switch (name)
            {
                case "requested_model": d.RequestedModel = ReadValue(ref reader, "input.requested_model"); break;
                case "query_length": d.QueryLength = ReadInt32(ref reader, "input.query_length"); break;
                case "user_id": d.UserId = ReadValue(ref reader, "input.user_id"); break;
                case "team_id": d.TeamId = ReadValue(ref reader, "input.team_id"); break;
                case "api_type": d.ApiType = ReadValue(ref reader, "input.api_type"); break;
                case "request_metadata":
                    s.RequestMetadata = CopyObject(ref reader, json, "input.request_metadata", ref s);
                    break;
                default: reader.Skip(); break;
            }
        }
    }

    private static (int, int)? ReadCandidates(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, out int count)
    {
        count = 0;
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new RejectException($"candidate_deployments: expected an array, got {Describe(reader.TokenType)}");
        }
        var start = (int)reader.TokenStartIndex;
        Span<char> buffer = stackalloc char[NameBufferLength];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new RejectException($"candidate_deployments[{count}]: expected an object, got {Describe(reader.TokenType)}");
            }
            try
            {
                // Only validated here (the array is kept verbatim): field names are put together
                // only when one is wrong, so a good candidate costs no allocation.
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = PropertyName(in reader, buffer);
                    reader.Read();
                    switch (name)
                    {
                        case "model_name": ExpectString(ref reader, "model_name"); break;
                        case "provider": ExpectString(ref reader, "provider"); break;
                        case "score": ReadDouble(ref reader, "score"); break;
                        case "available": ReadBool(ref reader, "available"); break;
                        default: reader.Skip(); break;
                    }
                }
            }
            catch (RejectException ex)
            {
                throw new RejectException($"candidate_deployments[{count}].{ex.Message}");
            }
            count++;
        }
        _ = json;
        return (start, (int)reader.BytesConsumed);
    }

    private static (int, int)? ReadExperiment(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, RouterDecision d)
    {
        var start = (int)reader.TokenStartIndex;
        if (!BeginObject(ref reader, "experiment"))
        {
            return null;
        }
        Span<char> buffer = stackalloc char[NameBufferLength];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = PropertyName(in reader, buffer);
            reader.Read();
            switch (name)
            {
                case "experiment_id": d.ExperimentId = ReadValue(ref reader, "experiment.experiment_id"); break;
                case "variant": d.ExperimentVariant = ReadValue(ref reader, "experiment.variant"); break;
                case "strategy_name": ExpectString(ref reader, "experiment.strategy_name"); break;
                case "strategy_version": ExpectString(ref reader, "experiment.strategy_version"); break;
                case "weight": ReadDouble(ref reader, "experiment.weight"); break;
                case "total_weight": ReadDouble(ref reader, "experiment.total_weight"); break;
                case "hash_bucket": ReadInt64(ref reader, "experiment.hash_bucket"); break;
                case "hash_key_type": ExpectString(ref reader, "experiment.hash_key_type"); break;
                default: reader.Skip(); break;
            }
        }
        _ = json;
        return (start, (int)reader.BytesConsumed);
    }

    private static void ReadTimings(ref Utf8JsonReader reader, RouterDecision d)
    {
        if (!BeginObject(ref reader, "timings"))
        {
            return;
        }
        Span<char> buffer = stackalloc char[NameBufferLength];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = PropertyName(in reader, buffer);
            reader.Read();
            switch (name)
            {
                case "total_ms": d.TotalMs = ReadDouble(ref reader, "timings.total_ms"); break;
                case "strategy_ms": d.StrategyMs = ReadDouble(ref reader, "timings.strategy_ms"); break;
                case "embedding_ms": d.EmbeddingMs = ReadDouble(ref reader, "timings.embedding_ms"); break;
                case "candidate_filter_ms": d.CandidateFilterMs = ReadDouble(ref reader, "timings.candidate_filter_ms"); break;
                default: reader.Skip(); break;
            }
        }
    }

    private static void ReadOutcome(ref Utf8JsonReader reader, RouterDecision d)
    {
        if (!BeginObject(ref reader, "outcome"))
        {
            return;
        }
        Span<char> buffer = stackalloc char[NameBufferLength];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = PropertyName(in reader, buffer);
            reader.Read();
            switch (name)
            {
                case "status": d.OutcomeStatus = ReadValue(ref reader, "outcome.status"); break;
                case "error_message": d.ErrorMessage = ReadString(ref reader, "outcome.error_message"); break;
                case "error_type": d.ErrorType = ReadValue(ref reader, "outcome.error_type"); break;
                case "input_tokens": d.InputTokens = ReadInt64(ref reader, "outcome.input_tokens"); break;
                case "output_tokens": d.OutputTokens = ReadInt64(ref reader, "outcome.output_tokens"); break;
                case "total_tokens": d.TotalTokens = ReadInt64(ref reader, "outcome.total_tokens"); break;
                case "api_type": d.ApiType ??= ReadValue(ref reader, "outcome.api_type"); break;
                default: reader.Skip(); break;
            }
        }
    }

    private static void ReadFallback(ref Utf8JsonReader reader, RouterDecision d)
    {
        if (!BeginObject(ref reader, "fallback"))
        {
            return;
        }
        Span<char> buffer = stackalloc char[NameBufferLength];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = PropertyName(in reader, buffer);
            reader.Read();
            switch (name)
            {
                case "fallback_triggered": d.FallbackTriggered = ReadBool(ref reader, "fallback.fallback_triggered") ?? false; break;
                case "original_model": d.OriginalModel = ReadValue(ref reader, "fallback.original_model"); break;
                case "fallback_reason": d.FallbackReason = ReadValue(ref reader, "fallback.fallback_reason"); break;
                case "fallback_attempt": d.FallbackAttempt = ReadInt32(ref reader, "fallback.fallback_attempt"); break;
                default: reader.Skip(); break;
            }
        }
    }

    /// <summary>
    /// Copies a free-form object (request_metadata, custom_attributes) property by property,
    /// picking up <c>query_text</c> and <c>performance</c> on the way. The query text is
    /// left out of the copy: it lives in its own column, and only when storing it is allowed.
    /// </summary>
    /// <returns>Where the copy lies in <see cref="Scratch.Copies"/> (valid until the parse ends).</returns>
    private static Range? CopyObject(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, string field, ref State s)
    {
        if (!BeginObject(ref reader, field))
        {
            return null;
        }
        var scratch = Scratch.Current;
        var from = scratch.Copies.WrittenCount;
        var writer = scratch.CopyWriter();
        Span<char> buffer = stackalloc char[NameBufferLength];
        writer.WriteStartObject();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = PropertyName(in reader, buffer);
            reader.Read();
            if (name.SequenceEqual("query_text") && reader.TokenType is JsonTokenType.String or JsonTokenType.Null)
            {
                s.QueryText ??= reader.GetString();
                continue;
            }
            if (name.SequenceEqual("performance") && field == "custom_attributes" && reader.TokenType == JsonTokenType.Number)
            {
                s.Performance = reader.GetDouble();
            }
            // The router's probability of its choice (feedback-contract.md): kept as a column for the
            // dataset's propensity; anything outside (0, 1] is left unknown (it stays in the attributes).
            if (name.SequenceEqual("selection_probability") && field == "custom_attributes" && reader.TokenType == JsonTokenType.Number
                && reader.TryGetDouble(out var probability) && probability is > 0 and <= 1)
            {
                s.SelectionProbability = probability;
            }
            writer.WritePropertyName(name);
            var start = (int)reader.TokenStartIndex;
            reader.Skip();
            writer.WriteRawValue(json[start..(int)reader.BytesConsumed], skipInputValidation: true);
        }
        writer.WriteEndObject();
        writer.Flush();
        return from..scratch.Copies.WrittenCount;
    }

    /// <summary>Length of the stack buffer property names are unescaped into; longer names (never a known one) allocate.</summary>
    private const int NameBufferLength = 64;

    /// <summary>The current property name, unescaped, without allocating when it fits <paramref name="buffer"/>.</summary>
    private static ReadOnlySpan<char> PropertyName(in Utf8JsonReader reader, Span<char> buffer)
    {
        var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        return length <= buffer.Length ? buffer[..reader.CopyString(buffer)] : reader.GetString();
    }

    /// <summary>A string field kept as it is (an identifier, model or strategy name): repeated values share one instance.</summary>
    private static string? ReadValue(ref Utf8JsonReader reader, string field) => reader.TokenType switch
    {
        JsonTokenType.String => Values.Read(ref reader),
        JsonTokenType.Null => null,
        _ => throw new RejectException($"{field}: expected a string, got {Describe(reader.TokenType)}"),
    };

    /// <summary>A string field that is only validated (its object is kept verbatim).</summary>
    private static void ExpectString(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
        {
            throw new RejectException($"{field}: expected a string, got {Describe(reader.TokenType)}");
        }
    }

    /// <summary>event_id: a UUID is normalised to its lower-case hyphenated form straight from the UTF-8 bytes.</summary>
    private static string? ReadEventId(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.String && !reader.HasValueSequence && !reader.ValueIsEscaped
            && Utf8Parser.TryParse(reader.ValueSpan, out Guid guid, out var consumed, 'D') && consumed == reader.ValueSpan.Length)
        {
            return guid.ToString("D");
        }
        var value = ReadString(ref reader, "event_id");
        if (value is { Length: > 128 })
        {
            throw new RejectException("event_id: longer than 128 characters");
        }
        return value is not null && Guid.TryParse(value, out guid) ? guid.ToString("D") : value;
    }

    private static readonly InternedValues Values = new();

    /// <summary>
    /// Interns the short, low-cardinality strings of decisions (model, strategy and status names,
    /// user ids): looked up by their characters on the stack, so a value seen before costs no
    /// allocation. Bounded: after <see cref="MaxEntries"/> distinct values new ones are simply
    /// allocated.
    /// </summary>
    private sealed class InternedValues
    {
        private const int MaxEntries = 16_384;
        private const int MaxLength = 96;
        private readonly ConcurrentDictionary<string, string> _values = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;
        private int _count;

        public InternedValues() => _lookup = _values.GetAlternateLookup<ReadOnlySpan<char>>();

        public string Read(ref Utf8JsonReader reader)
        {
            var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
            if (length > MaxLength)
            {
                return reader.GetString()!;
            }
            Span<char> buffer = stackalloc char[MaxLength];
            var chars = buffer[..reader.CopyString(buffer)];
            if (_lookup.TryGetValue(chars, out var value))
            {
                return value;
            }
            value = new string(chars);
            if (Volatile.Read(ref _count) < MaxEntries && _values.TryAdd(value, value))
            {
                Interlocked.Increment(ref _count);
            }
            return value;
        }
    }

    /// <summary>
    /// Per-thread buffers one parse reuses: filtered copies of free-form objects and the
    /// attributes document built from them. A parse never spans threads (it is synchronous).
    /// </summary>
    private sealed class Scratch
    {
        private const int KeepCapacity = 256 * 1024;
        [ThreadStatic] private static Scratch? t_current;

        public readonly ArrayBufferWriter<byte> Copies = new(1024);
        public readonly ArrayBufferWriter<byte> Output = new(2048);
        private Utf8JsonWriter? _copyWriter;
        private Utf8JsonWriter? _outputWriter;

        public static Scratch Current => t_current ??= new Scratch();

        public void Begin() => Copies.ResetWrittenCount();

        /// <summary>Drops the buffers after an unusually large event rather than keeping them per thread.</summary>
        public static void End()
        {
            if (t_current is { } s && (s.Copies.Capacity > KeepCapacity || s.Output.Capacity > KeepCapacity))
            {
                t_current = null;
            }
        }

        public Utf8JsonWriter CopyWriter()
        {
            if (_copyWriter is null)
            {
                _copyWriter = new Utf8JsonWriter(Copies);
            }
            else
            {
                _copyWriter.Reset(Copies);
            }
            return _copyWriter;
        }

        public Utf8JsonWriter OutputWriter()
        {
            Output.ResetWrittenCount();
            if (_outputWriter is null)
            {
                _outputWriter = new Utf8JsonWriter(Output);
            }
            else
            {
                _outputWriter.Reset(Output);
            }
            return _outputWriter;
        }
    }

    private static bool BeginObject(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return false;
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new RejectException($"{field}: expected an object, got {Describe(reader.TokenType)}");
        }
        return true;
    }

    private static string? ReadString(ref Utf8JsonReader reader, string field) => reader.TokenType switch
    {
        JsonTokenType.String => reader.GetString(),
        JsonTokenType.Null => null,
        _ => throw new RejectException($"{field}: expected a string, got {Describe(reader.TokenType)}"),
    };

    private static string? ReadHexId(ref Utf8JsonReader reader, string field, int length)
    {
        var value = ReadString(ref reader, field);
        if (value is null || value.Length == 0)
        {
            return null;
        }
        if (!IsHex(value, length))
        {
            throw new RejectException($"{field}: expected {length} hex characters, got '{Truncate(value)}'");
        }
        return value.ToLowerInvariant();
    }

    private static long? ReadTimestamp(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new RejectException($"{field}: expected an ISO 8601 string, got {Describe(reader.TokenType)}");
        }
        if (reader.TryGetDateTimeOffset(out var value)
            || DateTimeOffset.TryParse(reader.GetString(), System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal, out value))
        {
            return value.ToUnixTimeMilliseconds();
        }
        throw new RejectException($"{field}: '{Truncate(reader.GetString() ?? "")}' is not an ISO 8601 timestamp");
    }

    private static long? ReadInt64(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
        {
            return value;
        }
        throw new RejectException($"{field}: expected an integer, got {Describe(reader.TokenType)}");
    }

    private static int? ReadInt32(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value))
        {
            return value;
        }
        throw new RejectException($"{field}: expected an integer, got {Describe(reader.TokenType)}");
    }

    private static double? ReadDouble(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var value) && double.IsFinite(value))
        {
            return value;
        }
        throw new RejectException($"{field}: expected a number, got {Describe(reader.TokenType)}");
    }

    private static bool? ReadBool(ref Utf8JsonReader reader, string field) => reader.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        JsonTokenType.Null => null,
        _ => throw new RejectException($"{field}: expected a boolean, got {Describe(reader.TokenType)}"),
    };

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    internal static bool IsHex(string value, int length)
    {
        if (value.Length != length)
        {
            return false;
        }
        foreach (var c in value)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>A stable UUID-shaped id for events that carry none, so redeliveries still dedupe.</summary>
    public static string DeriveId(string kind, string a, string b)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{kind}\n{a}\n{b}"), hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true).ToString("D");
    }

    /// <summary>A value quoted in a rejection reason: at most 64 characters.</summary>
    internal static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";

    /// <summary>A System.Text.Json message without its " Path: …" part.</summary>
    internal static string FirstSentence(string message)
    {
        var i = message.IndexOf(" Path:", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message;
    }

    private struct LegacyScratch
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

    private struct State
    {
        public State()
        {
            Decision = new RouterDecision { EventId = "" };
        }

        public RouterDecision Decision;
        public bool ContractNameSeen;
        public string? ContractName;
        public string? EventId;
        public long? TimestampUtcMs;
        public long? TimestampUnixMs;
        public (int, int)? Candidates;
        public (int, int)? Experiment;
        public Range? RequestMetadata;
        public Range? CustomAttributes;
        public string? QueryText;
        public double? Performance;
        public double? SelectionProbability;
        public List<(string Name, int Start, int End)>? Unknown;
        public List<(string Name, int Start, int End)>? LegacyKeys;
        public LegacyScratch Legacy;
    }
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

/// <summary>Thrown inside a parser to reject the event it reads with this reason (never escapes a parser).</summary>
internal sealed class RejectException(string reason) : Exception(reason);
