using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using static RouteIQ.TelemetryIngest.Parsing.JsonFields;

namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>
/// Reads a <c>routeiq.router_decision.v1</c> object in one pass with <see cref="Utf8JsonReader"/>
/// into a <see cref="ParseState"/>: the columns of <see cref="RouterDecision"/>, and where the
/// parts kept verbatim (candidates, experiment, request metadata, custom attributes, unknown keys)
/// lie in the input. Keys of the legacy record met on the way go to <see cref="LegacyReader"/>.
/// <see cref="Complete"/> then fills in what the input knows (<see cref="DecisionContext"/>),
/// has <see cref="DecisionValidator"/> check it and builds the attributes document.
/// </summary>
internal static class ContractReader
{
    public static void ReadTopLevel(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, ref ParseState s)
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
                    if (!LegacyReader.ReadKey(ref reader, nameSpan, ref s))
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

    private static void ReadInput(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, ref ParseState s)
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
    /// <returns>Where the copy lies in <see cref="ParseScratch.Copies"/> (valid until the parse ends).</returns>
    private static Range? CopyObject(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, string field, ref ParseState s)
    {
        if (!BeginObject(ref reader, field))
        {
            return null;
        }
        var scratch = ParseScratch.Current;
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

    /// <summary>
    /// The decision read into <paramref name="s"/>, completed from <paramref name="context"/> and
    /// checked by <paramref name="validator"/>; throws <see cref="RejectException"/> when a rule is broken.
    /// </summary>
    public static RouterDecision Complete(ref ParseState s, ReadOnlySpan<byte> json, in DecisionContext context, DecisionValidator validator, bool storeQueryText)
    {
        var d = s.Decision;
        d.ContractVersion ??= "v1";
        d.TraceId ??= context.TraceId;
        d.SpanId ??= context.SpanId;
        d.Source = context.Source;
        d.TimestampMs = s.TimestampUnixMs ?? s.TimestampUtcMs ?? context.TimestampMs ?? validator.NowMs;
        var timestampField = s.TimestampUnixMs is not null ? "timestamp_unix_ms"
            : s.TimestampUtcMs is not null ? "timestamp_utc"
            : context.TimestampMs is not null ? "time_unix_nano" : null;
        if (validator.ContractProblem(d, s.ContractName, timestampField) is { } reason)
        {
            throw new RejectException(reason);
        }
        if (string.IsNullOrEmpty(s.EventId))
        {
            // No event_id: the same event must still dedupe on redelivery, so the id is derived
            // from what identifies it (its span, else its exact bytes).
            d.EventId = d.TraceId is not null && d.SpanId is not null
                ? DecisionParser.DeriveId("decision", d.TraceId, d.SpanId + ":" + d.TimestampMs)
                : DecisionParser.DeriveId("body", Convert.ToHexStringLower(SHA256.HashData(json)), "");
        }
        else
        {
            d.EventId = s.EventId;
        }
        d.QueryText = storeQueryText ? s.QueryText : null;
        d.Performance ??= s.Performance ?? s.Legacy.Performance;
        d.SelectionProbability = s.SelectionProbability;
        d.AttributesJson = BuildAttributes(ref s, json);
        return d;
    }

    private static string? BuildAttributes(ref ParseState s, ReadOnlySpan<byte> json)
    {
        var hasUnknown = s.Unknown is { Count: > 0 } || s.LegacyKeys is { Count: > 0 };
        if (s.Candidates is null && s.Experiment is null && s.RequestMetadata is null && s.CustomAttributes is null && !hasUnknown)
        {
            return null;
        }
        var scratch = ParseScratch.Current;
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

    private static void WriteSlice(Utf8JsonWriter writer, string name, (int Start, int End)? range, ReadOnlySpan<byte> json)
    {
        if (range is { } r)
        {
            writer.WritePropertyName(name);
            writer.WriteRawValue(json[r.Start..r.End], skipInputValidation: true);
        }
    }
}

/// <summary>What one parse has read so far: the decision's fields, and where the parts kept verbatim lie in the input.</summary>
internal struct ParseState
{
    public ParseState()
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
    public LegacyFields Legacy;
}
