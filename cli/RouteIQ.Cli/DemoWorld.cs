using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace RouteIQ.Cli;

/// <summary>
/// The demo's synthetic world: query kinds whose best model differs, six models with real-world
/// price points, and a ground-truth quality per (kind, model). Decisions carry the query text
/// (<c>custom_attributes.query_text</c>) but no grade, as a real gateway's do: a separate judge
/// (<see cref="JudgeGrades"/>) grades a sample of them later as <c>routeiq.router_feedback.v1</c>
/// events, and a dataset built from the grades teaches a router which model is worth its price
/// for which kind of query. <see cref="InlineGrades"/> restores the old inline
/// <c>custom_attributes.performance</c>.
/// </summary>
public sealed class DemoWorld(int seed)
{
    /// <summary>Write each decision's grade into it (<c>custom_attributes.performance</c>) instead of leaving it to the judge.</summary>
    public bool InlineGrades { get; init; }

    /// <summary>Every decision emitted so far with its true grade, for the judge.</summary>
    private readonly List<(string EventId, double Performance)> _emitted = [];

    public sealed record Model(string Name, string Provider, double InputPrice, double OutputPrice)
    {
        /// <summary>USD per million tokens, input and output averaged.</summary>
        public double Price => (InputPrice + OutputPrice) / 2;
    }

    public static readonly Model[] Models =
    [
        new("gpt-4o", "openai", 2.50, 10.00),
        new("claude-3-5-sonnet", "anthropic", 3.00, 15.00),
        new("llama-3.1-70b-instruct", "meta", 0.88, 0.88),
        new("mistral-small", "mistral", 0.20, 0.60),
        new("gpt-4o-mini", "openai", 0.15, 0.60),
        new("gemini-1.5-flash", "google", 0.075, 0.30),
    ];

    private sealed record Kind(string Name, double Weight, double[] Quality, string[] Templates);

    // Quality per model, in the order of Models. Hard kinds need a frontier model; easy kinds
    // are served as well by the cheap ones.
    private static readonly Kind[] Kinds =
    [
        new("code", 0.22, [0.90, 0.94, 0.70, 0.52, 0.63, 0.50],
            ["Write a {lang} function that {task}", "Fix the bug in this {lang} code that {task}", "Refactor the {lang} module that {task} to be testable"]),
        new("math", 0.18, [0.91, 0.84, 0.71, 0.48, 0.69, 0.64],
            ["Solve for x: {a}x + {b} = {c}", "What is the integral of {a}x^{b} from 0 to {c}?", "Prove that the product of {a} consecutive integers is divisible by {b}"]),
        new("chat", 0.20, [0.90, 0.91, 0.88, 0.87, 0.89, 0.88],
            ["What is a good gift for a friend who likes {topic}?", "Tell me a fun fact about {topic}", "How do I politely decline an invitation to a {topic} party?"]),
        new("summarize", 0.15, [0.88, 0.90, 0.85, 0.80, 0.86, 0.87],
            ["Summarize this article about {topic} in three bullet points", "Give a one-line summary of the meeting notes on {topic}"]),
        new("translate", 0.15, [0.92, 0.90, 0.86, 0.84, 0.88, 0.85],
            ["Translate 'where is the {topic} museum' into {language}", "How do you say 'I love {topic}' in {language}?"]),
        new("extract", 0.10, [0.90, 0.88, 0.79, 0.70, 0.84, 0.77],
            ["Extract the invoice number and total from this {topic} receipt as JSON", "List every date mentioned in this {topic} contract as ISO 8601"]),
    ];

    private static readonly string[] Languages = ["Python", "C#", "Go", "Rust", "TypeScript", "Java"];
    private static readonly string[] HumanLanguages = ["French", "German", "Japanese", "Spanish", "Portuguese", "Korean"];
    private static readonly string[] Tasks = ["parses CSV rows", "merges two sorted lists", "retries HTTP calls with backoff", "validates email addresses", "computes a moving average", "deduplicates events by id", "streams a large file", "caches results with a TTL"];
    private static readonly string[] Topics = ["sourdough", "penguins", "chess", "jazz", "hiking", "coffee", "astronomy", "gardening", "origami", "cycling", "volcanoes", "tea"];

    private readonly Random _random = new(seed);

    public sealed record Query(string Text, int KindIndex)
    {
        public string KindName => Kinds[KindIndex].Name;
    }

    public Query NextQuery()
    {
        var r = _random.NextDouble();
        var k = 0;
        for (var acc = Kinds[0].Weight; r > acc && k < Kinds.Length - 1; acc += Kinds[++k].Weight)
        {
        }
        var kind = Kinds[k];
        var text = kind.Templates[_random.Next(kind.Templates.Length)]
            .Replace("{lang}", Languages[_random.Next(Languages.Length)], StringComparison.Ordinal)
            .Replace("{language}", HumanLanguages[_random.Next(HumanLanguages.Length)], StringComparison.Ordinal)
            .Replace("{task}", Tasks[_random.Next(Tasks.Length)], StringComparison.Ordinal)
            .Replace("{topic}", Topics[_random.Next(Topics.Length)], StringComparison.Ordinal)
            .Replace("{a}", _random.Next(2, 13).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{b}", _random.Next(2, 9).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{c}", _random.Next(10, 99).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        return new Query(text, k);
    }

    /// <summary>Ground-truth expected quality of a model on a query of this kind.</summary>
    public static double TrueQuality(int kindIndex, int modelIndex) => Kinds[kindIndex].Quality[modelIndex];

    /// <summary>The model with the best expected quality over the whole query mix.</summary>
    public static int BestSingleModel()
        => Enumerable.Range(0, Models.Length).MaxBy(m => Kinds.Sum(k => k.Weight * k.Quality[m]));

    /// <summary>
    /// One routing decision event per (query, model): the query was shadow-evaluated on every
    /// candidate, with a graded quality (ground truth + noise; a failed call scores 0).
    /// </summary>
    public IEnumerable<string> Events(Query query, DateTimeOffset at)
    {
        for (var m = 0; m < Models.Length; m++)
        {
            var model = Models[m];
            var failed = _random.NextDouble() < 0.03;
            var performance = failed ? 0 : Math.Clamp(TrueQuality(query.KindIndex, m) + Gaussian() * 0.05, 0, 1);
            var inputTokens = 20 + query.Text.Length / 4;
            var outputTokens = _random.Next(40, 400);
            var timestamp = at.AddMilliseconds(m);
            var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("contract_version", "v1");
                w.WriteString("contract_name", "routeiq.router_decision.v1");
                // Event ids are unique per run (a rerun on the same data dir adds new telemetry, not duplicates).
                var eventId = Guid.NewGuid().ToString("D");
                _emitted.Add((eventId, performance));
                w.WriteString("event_id", eventId);
                w.WriteString("trace_id", Hex(16));
                w.WriteString("span_id", Hex(8));
                w.WriteNull("parent_span_id");
                w.WriteString("timestamp_utc", timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
                w.WriteNumber("timestamp_unix_ms", timestamp.ToUnixTimeMilliseconds());
                w.WriteStartObject("input");
                w.WriteString("requested_model", "auto");
                w.WriteNumber("query_length", query.Text.Length);
                w.WriteString("user_id", $"u-{_random.Next(1, 200)}");
                w.WriteNull("team_id");
                w.WriteString("api_type", "chat_completion");
                w.WriteStartObject("request_metadata");
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteString("strategy_name", "shadow-eval");
                w.WriteString("strategy_version", "demo");
                w.WriteStartArray("candidate_deployments");
                foreach (var candidate in Models)
                {
                    w.WriteStartObject();
                    w.WriteString("model_name", candidate.Name);
                    w.WriteString("provider", candidate.Provider);
                    w.WriteNumber("score", 1.0 / Models.Length);
                    w.WriteBoolean("available", true);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteString("selected_deployment", model.Name);
                w.WriteString("selection_reason", "shadow_evaluation");
                w.WriteStartObject("timings");
                w.WriteNumber("total_ms", Math.Round(300 + _random.NextDouble() * 1500, 1));
                w.WriteNumber("strategy_ms", Math.Round(_random.NextDouble() * 2, 2));
                w.WriteNumber("embedding_ms", 0);
                w.WriteNumber("candidate_filter_ms", 0.1);
                w.WriteEndObject();
                w.WriteStartObject("outcome");
                w.WriteString("status", failed ? "error" : "success");
                if (failed)
                {
                    w.WriteString("error_message", "upstream 503");
                    w.WriteString("error_type", "ServiceUnavailable");
                }
                else
                {
                    w.WriteNull("error_message");
                    w.WriteNull("error_type");
                }
                w.WriteNumber("input_tokens", inputTokens);
                w.WriteNumber("output_tokens", failed ? 0 : outputTokens);
                w.WriteNumber("total_tokens", inputTokens + (failed ? 0 : outputTokens));
                w.WriteString("api_type", "chat_completion");
                w.WriteEndObject();
                w.WriteStartObject("fallback");
                w.WriteBoolean("fallback_triggered", false);
                w.WriteNull("original_model");
                w.WriteNull("fallback_reason");
                w.WriteNumber("fallback_attempt", 0);
                w.WriteEndObject();
                w.WriteStartObject("custom_attributes");
                w.WriteString("query_text", query.Text);
                w.WriteString("query_kind", query.KindName);
                if (InlineGrades)
                {
                    w.WriteNumber("performance", Math.Round(performance, 4));
                }
                w.WriteEndObject();
                w.WriteEndObject();
            }
            yield return Encoding.UTF8.GetString(buffer.ToArray());
        }
    }

    /// <summary>
    /// The judge: grades a random <paramref name="share"/> of the decisions emitted so far, late,
    /// as <c>routeiq.router_feedback.v1</c> events (its score is the decision's true grade).
    /// </summary>
    public IEnumerable<string> JudgeGrades(double share, DateTimeOffset at)
    {
        foreach (var (eventId, performance) in _emitted)
        {
            if (_random.NextDouble() >= share)
            {
                continue;
            }
            var buffer = new MemoryStream();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("contract_name", "routeiq.router_feedback.v1");
                w.WriteString("contract_version", "v1");
                w.WriteString("feedback_id", Guid.NewGuid().ToString("D"));
                w.WriteString("decision_event_id", eventId);
                w.WriteNull("model_name");
                w.WriteNumber("score", Math.Round(performance, 4));
                w.WriteString("source", "judge");
                w.WriteString("judge_model", "demo-judge");
                w.WriteString("rubric", "ground truth + noise");
                w.WriteNumber("timestamp_unix_ms", at.ToUnixTimeMilliseconds());
                w.WriteEndObject();
            }
            yield return Encoding.UTF8.GetString(buffer.ToArray());
        }
        _emitted.Clear();
    }

    /// <summary>The model catalogue the dataset builder prices models from (LLMRouter candidates shape).</summary>
    public static Dictionary<string, object> Catalog() => Models.ToDictionary(
        m => m.Name,
        m => (object)new Dictionary<string, object> { ["input_price"] = m.InputPrice, ["output_price"] = m.OutputPrice, ["provider"] = m.Provider, ["service"] = m.Provider });

    private double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - _random.NextDouble())) * Math.Cos(2 * Math.PI * _random.NextDouble());

    private string Hex(int bytes)
    {
        var buffer = new byte[bytes];
        _random.NextBytes(buffer);
        return Convert.ToHexStringLower(buffer);
    }

    /// <summary>A stable fingerprint of the world, printed so two runs can be compared.</summary>
    public static string Fingerprint() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
        string.Join('|', Kinds.Select(k => k.Name + ":" + string.Join(',', k.Quality))))))[..12];
}
