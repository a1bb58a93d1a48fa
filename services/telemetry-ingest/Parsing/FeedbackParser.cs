using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>
/// Reads one <c>routeiq.router_feedback.v1</c> object (specs/feedback-contract.md) and validates
/// it strictly: every rejection names its field. Never throws for bad input. Thread-safe.
/// </summary>
public sealed class FeedbackParser(TelemetryIngestOptions options, TimeProvider timeProvider)
{
    public const string ContractName = "routeiq.router_feedback.v1";
    public const string PayloadAttribute = "routeiq.router_feedback.payload";
    public static readonly IReadOnlyList<string> ContractVersions = ["v1"];

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>
    /// Whether a JSON object's top-level <c>contract_name</c> is the feedback contract: a cheap byte
    /// search first, so a decision (the common case) costs one vectorised scan.
    /// </summary>
    public static bool IsFeedback(ReadOnlySpan<byte> json)
    {
        if (json.IndexOf("routeiq.router_feedback"u8) < 0)
        {
            return false;
        }
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isName = reader.ValueTextEquals("contract_name"u8);
                reader.Read();
                if (isName)
                {
                    return reader.TokenType == JsonTokenType.String && (reader.GetString() ?? "").StartsWith("routeiq.router_feedback", StringComparison.Ordinal);
                }
                reader.Skip();
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
        {
            // Malformed: the decision parser rejects it with its reason.
        }
        return false;
    }

    public ParseResult Parse(ReadOnlySpan<byte> json, in DecisionContext context)
    {
        if (json.Length > DecisionParser.MaxEventBytes)
        {
            return ParseResult.Reject($"event is {json.Length} bytes, over the 1 MiB limit");
        }
        var bytes = ArrayPool<byte>.Shared.Rent(json.Length);
        try
        {
            json.CopyTo(bytes);
            using var document = JsonDocument.Parse(bytes.AsMemory(0, json.Length), DocumentOptions);
            return ParseResult.Accept(Read(document.RootElement, context));
        }
        catch (RejectException ex)
        {
            return ParseResult.Reject(ex.Message);
        }
        catch (JsonException ex)
        {
            return ParseResult.Reject($"malformed JSON: {DecisionParser.FirstSentence(ex.Message)}");
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException or OverflowException or DecoderFallbackException)
        {
            // Invalid UTF-8 inside a string surfaces when the string is read.
            return ParseResult.Reject($"malformed JSON: {DecisionParser.FirstSentence(ex.Message)}");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    public ParseResult Parse(string json, in DecisionContext context)
    {
        if (Encoding.UTF8.GetByteCount(json) > DecisionParser.MaxEventBytes)
        {
            return ParseResult.Reject("event is over the 1 MiB limit");
        }
        return Parse(Encoding.UTF8.GetBytes(json), context);
    }

    private RouterFeedback Read(JsonElement root, in DecisionContext context)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new RejectException("expected a JSON object");
        }
        string? contractName = null, version = null, feedbackId = null, eventId = null, traceId = null, spanId = null;
        string? model = null, source = null, judgeModel = null, rubric = null;
        double? score = null;
        long? unixMs = null, utcMs = null;
        bool nameSeen = false, scoreSeen = false;
        JsonElement? custom = null;
        List<JsonProperty>? unknown = null;
        foreach (var p in root.EnumerateObject())
        {
            switch (p.Name)
            {
                case "contract_name": nameSeen = true; contractName = String(p); break;
                case "contract_version": version = String(p); break;
                case "feedback_id": feedbackId = String(p); break;
                case "decision_event_id": eventId = String(p); break;
                case "trace_id": traceId = Hex(p, 32); break;
                case "span_id": spanId = Hex(p, 16); break;
                case "model_name": model = String(p); break;
                case "score": scoreSeen = true; score = Score(p); break;
                case "source": source = String(p); break;
                case "judge_model": judgeModel = String(p); break;
                case "rubric": rubric = String(p); break;
                case "timestamp_unix_ms": unixMs = Int64(p); break;
                case "timestamp_utc": utcMs = Timestamp(p); break;
                case "custom_attributes":
                    if (p.Value.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null))
                    {
                        throw new RejectException($"custom_attributes: expected an object, got {Describe(p.Value.ValueKind)}");
                    }
                    custom = p.Value.ValueKind == JsonValueKind.Object ? p.Value : null;
                    break;
                default: (unknown ??= []).Add(p); break;
            }
        }
        if (!nameSeen || contractName is null)
        {
            throw new RejectException($"contract_name: missing (expected {ContractName})");
        }
        if (contractName != ContractName)
        {
            throw new RejectException($"contract_name: '{DecisionParser.Truncate(contractName)}' is not {ContractName}");
        }
        version ??= "v1";
        if (!ContractVersions.Contains(version))
        {
            throw new RejectException($"contract_version: unsupported version '{DecisionParser.Truncate(version)}' (supported: v1)");
        }
        if (feedbackId is null)
        {
            throw new RejectException("feedback_id: missing (a UUID identifies the grade)");
        }
        if (!Guid.TryParse(feedbackId, out var feedbackGuid))
        {
            throw new RejectException($"feedback_id: expected a UUID, got '{DecisionParser.Truncate(feedbackId)}'");
        }
        if (eventId is { Length: > 128 })
        {
            throw new RejectException("decision_event_id: longer than 128 characters");
        }
        if (eventId is { Length: 0 })
        {
            eventId = null;
        }
        // Decision event ids are normalised the same way when stored, so the two join.
        eventId = eventId is not null && Guid.TryParse(eventId, out var eventGuid) ? eventGuid.ToString("D") : eventId;
        if (eventId is null && (traceId is null || spanId is null))
        {
            // A payload without a key of its own grades the span it rides on (OTLP).
            traceId ??= context.TraceId;
            spanId ??= context.SpanId;
        }
        if (eventId is null && (traceId is null || spanId is null))
        {
            throw new RejectException("decision_event_id: missing (required unless trace_id and span_id are given)");
        }
        if (!scoreSeen || score is null)
        {
            throw new RejectException("score: missing (a number in [0, 1])");
        }
        if (source is null)
        {
            throw new RejectException($"source: missing (expected one of {string.Join(", ", FeedbackSources.DefaultPrecedence)})");
        }
        if (!FeedbackSources.IsKnown(source))
        {
            throw new RejectException($"source: unknown value '{DecisionParser.Truncate(source)}' (expected one of {string.Join(", ", FeedbackSources.DefaultPrecedence)})");
        }
        if (model is { Length: 0 })
        {
            model = null;
        }
        var timestamp = unixMs ?? utcMs ?? context.TimestampMs ?? timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var timestampField = unixMs is not null ? "timestamp_unix_ms" : utcMs is not null ? "timestamp_utc" : context.TimestampMs is not null ? "time_unix_nano" : null;
        if (timestampField is not null)
        {
            if (timestamp < 0)
            {
                throw new RejectException($"{timestampField}: before 1970-01-01 (epoch milliseconds {timestamp})");
            }
            if (timestamp > timeProvider.GetUtcNow().ToUnixTimeMilliseconds() + options.MaxFutureSkewSeconds * 1000L)
            {
                throw new RejectException($"{timestampField}: more than {options.MaxFutureSkewSeconds} s in the future (epoch milliseconds {timestamp})");
            }
        }
        return new RouterFeedback
        {
            FeedbackId = feedbackGuid.ToString("D"),
            DecisionEventId = eventId,
            TraceId = traceId,
            SpanId = spanId,
            ModelName = model,
            Score = score.Value,
            Source = source,
            JudgeModel = judgeModel,
            Rubric = rubric,
            TimestampMs = timestamp,
            IngestSource = context.Source,
            ContractVersion = version,
            AttributesJson = Attributes(custom, unknown),
        };
    }

    private static string? Attributes(JsonElement? custom, List<JsonProperty>? unknown)
    {
        if (custom is null && unknown is null)
        {
            return null;
        }
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (custom is { } c)
            {
                writer.WritePropertyName("custom_attributes");
                c.WriteTo(writer);
            }
            if (unknown is not null)
            {
                writer.WriteStartObject("extra");
                foreach (var p in unknown)
                {
                    p.WriteTo(writer);
                }
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static double Score(JsonProperty p)
    {
        if (p.Value.ValueKind == JsonValueKind.Null)
        {
            throw new RejectException("score: missing (a number in [0, 1])");
        }
        if (p.Value.ValueKind != JsonValueKind.Number)
        {
            throw new RejectException($"score: expected a number in [0, 1], got {Describe(p.Value.ValueKind)}");
        }
        if (!p.Value.TryGetDouble(out var value) || !double.IsFinite(value))
        {
            throw new RejectException($"score: not a finite number ({DecisionParser.Truncate(p.Value.GetRawText())})");
        }
        if (value is < 0 or > 1)
        {
            throw new RejectException(string.Create(CultureInfo.InvariantCulture, $"score: must be in [0, 1] (got {value})"));
        }
        return value;
    }

    private static string? String(JsonProperty p) => p.Value.ValueKind switch
    {
        JsonValueKind.String => p.Value.GetString(),
        JsonValueKind.Null => null,
        var kind => throw new RejectException($"{p.Name}: expected a string, got {Describe(kind)}"),
    };

    private static string? Hex(JsonProperty p, int length)
    {
        var value = String(p);
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }
        if (!DecisionParser.IsHex(value, length))
        {
            throw new RejectException($"{p.Name}: expected {length} hex characters, got '{DecisionParser.Truncate(value)}'");
        }
        return value.ToLowerInvariant();
    }

    private static long? Int64(JsonProperty p)
    {
        if (p.Value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt64(out var value))
        {
            return value;
        }
        throw new RejectException($"{p.Name}: expected an integer, got {Describe(p.Value.ValueKind)}");
    }

    private static long? Timestamp(JsonProperty p)
    {
        if (p.Value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (p.Value.ValueKind != JsonValueKind.String)
        {
            throw new RejectException($"{p.Name}: expected an ISO 8601 string, got {Describe(p.Value.ValueKind)}");
        }
        if (p.Value.TryGetDateTimeOffset(out var value)
            || DateTimeOffset.TryParse(p.Value.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out value))
        {
            return value.ToUnixTimeMilliseconds();
        }
        throw new RejectException($"{p.Name}: '{DecisionParser.Truncate(p.Value.GetString() ?? "")}' is not an ISO 8601 timestamp");
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };
}
