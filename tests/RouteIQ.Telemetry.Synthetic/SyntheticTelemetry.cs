using System.Buffers;
using System.Globalization;
using System.Text.Json;
using RouteIQ.TelemetryIngest.Datasets;

namespace RouteIQ.TelemetryIngest;

/// <summary>
/// Realistic, deterministic <c>routeiq.router_decision.v1</c> events for benchmarks, tests and
/// demos: five query kinds (code, math, chat, summarize, translate) with query text, seven
/// models with prices and quality, a kNN-style strategy with an A/B experiment, outcome mix
/// (≈92 % success) and per-model latencies. The contract carries no prompt text, so the
/// query text rides in <c>custom_attributes.query_text</c> — one of the places the parser
/// reads it from (stored only with <c>RouteIQ:Telemetry:StoreQueryText=true</c>). The same
/// (seed, index) always gives the same bytes and the same <c>event_id</c>, so republishing an
/// index makes a true duplicate.
/// </summary>
public sealed class SyntheticTelemetry(int seed = 1, DateTimeOffset? start = null, bool includeQueryText = true)
{
    private static readonly (string Name, string Provider, double In, double Out, double Quality, double LatencyMs)[] Models =
    [
        ("gpt-4o", "openai", 2.50, 10.00, 0.86, 900),
        ("gpt-4o-mini", "openai", 0.15, 0.60, 0.71, 420),
        ("claude-3-5-sonnet", "anthropic", 3.00, 15.00, 0.88, 1100),
        ("claude-3-haiku", "anthropic", 0.25, 1.25, 0.66, 380),
        ("llama-3.1-70b-instruct", "meta", 0.88, 0.88, 0.74, 650),
        ("mistral-large", "mistral", 2.00, 6.00, 0.78, 800),
        ("gemini-1.5-flash", "google", 0.075, 0.30, 0.69, 350),
    ];

    private static readonly (string Kind, string[] Templates, int[] PreferredModels)[] Kinds =
    [
        ("code", ["Write a {0} function that parses {1}", "Fix the off-by-one error in this {0} loop over {1}", "Explain what this {0} regex does to {1}"], [0, 2, 5]),
        ("math", ["Solve for x: {2}x + {3} = {4}", "What is the derivative of {2}x^{3} + {4}?", "Prove that the sum of {2} odd numbers is {1}"], [0, 2, 4]),
        ("chat", ["What is a good name for a {1} shop?", "Tell me a fun fact about {1}", "How do I politely decline a {1} invitation?"], [1, 3, 6]),
        ("summarize", ["Summarize this article about {1} in three bullet points", "Give a one-line summary of the {1} meeting notes"], [1, 4, 6]),
        ("translate", ["Translate 'where is the {1}' into {0}", "How do you say '{1}' in {0}?"], [1, 3, 5]),
    ];

    private static readonly string[] Words = ["csv files", "json logs", "dates", "invoices", "coffee", "bicycles", "penguins", "tax forms", "weather data", "chess openings", "sourdough", "graph edges"];
    private static readonly string[] Languages = ["Python", "C#", "Go", "Rust", "French", "German", "Japanese", "Spanish"];
    private static readonly string[] Outcomes = ["success", "fallback", "error", "timeout", "failure"];

    private readonly long _startMs = (start ?? new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero)).ToUnixTimeMilliseconds();

    /// <summary>The catalogue matching the generated models (prices per million tokens, quality score).</summary>
    public static IReadOnlyDictionary<string, ModelCatalogEntry> Catalog { get; } = Models.ToDictionary(
        m => m.Name,
        m => new ModelCatalogEntry { InputPrice = m.In, OutputPrice = m.Out, QualityScore = m.Quality, Provider = m.Provider, Service = m.Provider });

    /// <summary>Events are 10 ms apart from the start time.</summary>
    public long TimestampMs(long index) => _startMs + index * 10;

    public string EventId(long index)
    {
        var rng = new Rng(seed, index, 0x1D);
        Span<byte> bytes = stackalloc byte[16];
        BitConverter.TryWriteBytes(bytes, rng.Next());
        BitConverter.TryWriteBytes(bytes[8..], rng.Next());
        bytes[7] = (byte)((bytes[7] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes).ToString("D");
    }

    /// <summary>The event at <paramref name="index"/> as UTF-8 JSON.</summary>
    public byte[] Event(long index)
    {
        var buffer = new ArrayBufferWriter<byte>(1400);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, index);
        }
        return buffer.WrittenSpan.ToArray();
    }

    public void Write(Utf8JsonWriter w, long index)
    {
        var rng = new Rng(seed, index, 0x2B);
        var kind = Kinds[(int)(rng.Next() % (ulong)Kinds.Length)];
        var template = kind.Templates[(int)(rng.Next() % (ulong)kind.Templates.Length)];
        var query = string.Format(CultureInfo.InvariantCulture, template,
            Languages[rng.Next() % (ulong)Languages.Length], Words[rng.Next() % (ulong)Words.Length],
            2 + (int)(rng.Next() % 7), 1 + (int)(rng.Next() % 9), 10 + (int)(rng.Next() % 40));
        var selected = rng.NextDouble() < 0.8
            ? kind.PreferredModels[(int)(rng.Next() % (ulong)kind.PreferredModels.Length)]
            : (int)(rng.Next() % (ulong)Models.Length);
        var model = Models[selected];
        var roll = rng.NextDouble();
        var outcome = roll < 0.92 ? Outcomes[0] : roll < 0.95 ? Outcomes[1] : roll < 0.97 ? Outcomes[2] : roll < 0.99 ? Outcomes[3] : Outcomes[4];
        var strategyMs = Math.Round(2 + rng.NextDouble() * 12, 3);
        var embeddingMs = Math.Round(1 + rng.NextDouble() * 4, 3);
        var filterMs = Math.Round(0.2 + rng.NextDouble(), 3);
        var inputTokens = query.Length / 4 + 20 + (int)(rng.Next() % 200);
        var outputTokens = outcome == "success" ? 50 + (int)(rng.Next() % 700) : 0;
        var treatment = rng.Next() % 10 == 0;
        var traceId = $"{rng.Next():x16}{rng.Next():x16}";
        var spanId = $"{rng.Next():x16}";
        var ts = TimestampMs(index);

        w.WriteStartObject();
        w.WriteString("contract_version", "v1");
        w.WriteString("contract_name", "routeiq.router_decision.v1");
        w.WriteString("event_id", EventId(index));
        w.WriteString("trace_id", traceId);
        w.WriteString("span_id", spanId);
        w.WriteNull("parent_span_id");
        w.WriteString("timestamp_utc", DateTimeOffset.FromUnixTimeMilliseconds(ts).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
        w.WriteNumber("timestamp_unix_ms", ts);
        w.WriteStartObject("input");
        w.WriteString("requested_model", "auto");
        w.WriteNumber("query_length", query.Length);
        w.WriteString("user_id", $"u-{rng.Next() % 500:x3}");
        w.WriteNull("team_id");
        w.WriteString("api_type", "chat_completion");
        w.WriteStartObject("request_metadata");
        w.WriteString("query_kind", kind.Kind);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteString("strategy_name", treatment ? "llmrouter-mlp" : "llmrouter-knn");
        w.WriteString("strategy_version", treatment ? "b7c8d9e0f1a2b3c4" : "a1b2c3d4e5f60718");
        w.WriteStartArray("candidate_deployments");
        foreach (var i in kind.PreferredModels.Append(selected).Distinct())
        {
            w.WriteStartObject();
            w.WriteString("model_name", Models[i].Name);
            w.WriteString("provider", Models[i].Provider);
            w.WriteNumber("score", Math.Round(i == selected ? 0.8 + rng.NextDouble() * 0.2 : rng.NextDouble() * 0.8, 4));
            w.WriteBoolean("available", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString("selected_deployment", model.Name);
        w.WriteString("selection_reason", treatment ? "ab_test" : "highest_score");
        w.WriteStartObject("experiment");
        w.WriteString("experiment_id", "routing-v2");
        w.WriteString("variant", treatment ? "treatment" : "control");
        w.WriteString("strategy_name", treatment ? "llmrouter-mlp" : "llmrouter-knn");
        w.WriteString("strategy_version", treatment ? "b7c8d9e0f1a2b3c4" : "a1b2c3d4e5f60718");
        w.WriteNumber("weight", treatment ? 10 : 90);
        w.WriteNumber("total_weight", 100);
        w.WriteNumber("hash_bucket", (int)(rng.Next() % 100));
        w.WriteString("hash_key_type", "user");
        w.WriteEndObject();
        w.WriteStartObject("timings");
        w.WriteNumber("total_ms", Math.Round(strategyMs + embeddingMs + filterMs + model.LatencyMs * (0.5 + rng.NextDouble()), 3));
        w.WriteNumber("strategy_ms", strategyMs);
        w.WriteNumber("embedding_ms", embeddingMs);
        w.WriteNumber("candidate_filter_ms", filterMs);
        w.WriteEndObject();
        w.WriteStartObject("outcome");
        w.WriteString("status", outcome);
        if (outcome is "success" or "fallback")
        {
            w.WriteNull("error_message");
            w.WriteNull("error_type");
        }
        else
        {
            w.WriteString("error_message", $"upstream {outcome}");
            w.WriteString("error_type", outcome == "timeout" ? "TimeoutError" : "APIError");
        }
        w.WriteNumber("input_tokens", inputTokens);
        w.WriteNumber("output_tokens", outputTokens);
        w.WriteNumber("total_tokens", inputTokens + outputTokens);
        w.WriteString("api_type", "chat_completion");
        w.WriteEndObject();
        w.WriteStartObject("fallback");
        w.WriteBoolean("fallback_triggered", outcome == "fallback");
        if (outcome == "fallback")
        {
            w.WriteString("original_model", Models[(selected + 1) % Models.Length].Name);
            w.WriteString("fallback_reason", "rate_limited");
        }
        else
        {
            w.WriteNull("original_model");
            w.WriteNull("fallback_reason");
        }
        w.WriteNumber("fallback_attempt", outcome == "fallback" ? 1 : 0);
        w.WriteEndObject();
        w.WriteStartObject("custom_attributes");
        w.WriteString("gateway", "gw-" + (index % 3));
        if (includeQueryText)
        {
            w.WriteString("query_text", query);
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>
    /// A grade (<c>routeiq.router_feedback.v1</c>) of the decision at <paramref name="index"/>: a judge
    /// mostly, sometimes a user; one in ten grades another model (a shadow call). The same (seed,
    /// index, nth) gives the same bytes and the same <c>feedback_id</c>.
    /// </summary>
    public byte[] Feedback(long index, int nth = 0)
    {
        var rng = new Rng(seed, index, 0x3C + nth);
        Span<byte> id = stackalloc byte[16];
        BitConverter.TryWriteBytes(id, rng.Next());
        BitConverter.TryWriteBytes(id[8..], rng.Next());
        id[7] = (byte)((id[7] & 0x0F) | 0x40);
        id[8] = (byte)((id[8] & 0x3F) | 0x80);
        var shadow = rng.Next() % 10 == 0;
        var buffer = new ArrayBufferWriter<byte>(400);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("contract_name", "routeiq.router_feedback.v1");
            w.WriteString("contract_version", "v1");
            w.WriteString("feedback_id", new Guid(id).ToString("D"));
            w.WriteString("decision_event_id", EventId(index));
            if (shadow)
            {
                w.WriteString("model_name", Models[(int)(rng.Next() % (ulong)Models.Length)].Name);
            }
            else
            {
                w.WriteNull("model_name");
            }
            w.WriteNumber("score", Math.Round(rng.NextDouble(), 4));
            var user = rng.Next() % 5 == 0;
            w.WriteString("source", user ? "user" : "judge");
            if (user)
            {
                w.WriteNull("judge_model");
            }
            else
            {
                w.WriteString("judge_model", "gpt-4o");
            }
            w.WriteNumber("timestamp_unix_ms", TimestampMs(index) + 60_000);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A small deterministic generator (SplitMix64) per (seed, index, stream).</summary>
    private struct Rng(int seed, long index, int stream)
    {
        private ulong _state = ((ulong)(uint)seed << 40) ^ (ulong)index * 0x9E3779B97F4A7C15UL ^ (ulong)stream;

        public ulong Next()
        {
            _state += 0x9E3779B97F4A7C15UL;
            var z = _state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
    }
}
