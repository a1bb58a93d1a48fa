using System.Text.Json;
using System.Text.Json.Serialization;

namespace RouteIQ.TelemetryIngest.Datasets;

/// <summary>The JSON conventions of telemetry-ingest's admin API: the API's wire JSON (snake_case, like the contract).</summary>
public static class TelemetryJson
{
    public static readonly JsonSerializerOptions Options = Client.ApiJson.Options;
}

/// <summary><c>POST /admin/datasets</c> and <c>routeiq dataset build</c>.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record DatasetRequest
{
    /// <summary>Caller-given id (<c>[a-z0-9][a-z0-9._-]{0,63}</c>); default <c>ds-yyyyMMddHHmmss-&lt;6 hex&gt;</c>.</summary>
    public string? DatasetId { get; init; }

    /// <summary>Window start (inclusive, decision timestamp); default: the beginning.</summary>
    public DateTimeOffset? Since { get; init; }

    /// <summary>Window end (exclusive); default: now.</summary>
    public DateTimeOffset? Until { get; init; }

    public DatasetFilters? Filters { get; init; }

    /// <summary>Fraction of queries (not records) that go to the test file, in [0, 1).</summary>
    public double TestSplit { get; init; } = 0.2;

    public int Seed { get; init; } = 42;

    /// <summary>Add strategy_name, strategy_version, outcome_status, … to every line.</summary>
    public bool IncludeRoutingMetadata { get; init; }

    public LabelWeights? Labels { get; init; }

    /// <summary>Only observations labelled by grades (feedback); decisions without one are left out instead of labelled by the formula.</summary>
    public bool GradedOnly { get; init; }

    /// <summary>Inline model catalogue (LLMRouter candidates shape); default: <c>RouteIQ:Telemetry:ModelCatalogPath</c>.</summary>
    public Dictionary<string, ModelCatalogEntry>? ModelCatalog { get; init; }
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record DatasetFilters
{
    public IReadOnlyList<string>? Strategies { get; init; }
    public IReadOnlyList<string>? Models { get; init; }
    public IReadOnlyList<string>? Outcomes { get; init; }

    /// <summary><c>decision</c> and/or <c>legacy</c>.</summary>
    public IReadOnlyList<string>? Kinds { get; init; }

    /// <summary><c>bus</c>, <c>otlp</c>, <c>jaeger</c>, <c>file</c>, <c>http</c>.</summary>
    public IReadOnlyList<string>? Sources { get; init; }
}

/// <summary>
/// <c>performance = quality_weight·quality_score + latency_weight·max(0, 1 − latency_s/latency_scale_seconds) − cost_penalty·cost_usd</c>,
/// clamped to [0, 1]; an outcome other than <c>success</c> scores 0; an observation's own performance is kept.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record LabelWeights
{
    public double QualityWeight { get; init; } = 0.7;
    public double LatencyWeight { get; init; } = 0.3;
    public double LatencyScaleSeconds { get; init; } = 10;

    /// <summary>Subtracted per USD of estimated request cost (tokens × catalogue prices).</summary>
    public double CostPenalty { get; init; }

    /// <summary>quality_score for models the catalogue does not score.</summary>
    public double DefaultQuality { get; init; } = 0.5;

    /// <summary>
    /// How grades become a label (feedback-contract.md): <c>{"precedence": [...]}</c> — the mean of the
    /// first source in the list that graded the observation (sources not listed are not used) — or
    /// <c>"mean"</c> over every grade. Default: precedence user, judge, task, benchmark, heuristic.
    /// </summary>
    public FeedbackLabels? Feedback { get; init; }
}

/// <summary><c>labels.feedback</c>: <c>"mean"</c> or <c>{"precedence": ["user", "judge", …]}</c>.</summary>
[JsonConverter(typeof(FeedbackLabelsConverter))]
public sealed record FeedbackLabels
{
    public static readonly FeedbackLabels Default = new() { Precedence = Parsing.FeedbackSources.DefaultPrecedence };

    /// <summary>The mean of every grade, whatever its source.</summary>
    public bool Mean { get; init; }

    public IReadOnlyList<string>? Precedence { get; init; }

    public string Describe() => Mean
        ? "mean of every grade of the (query, model) observation"
        : $"mean of the grades of the first source present in precedence {string.Join(" > ", Precedence ?? [])}; sources not listed are not used";
}

public sealed class FeedbackLabelsConverter : JsonConverter<FeedbackLabels>
{
    public override FeedbackLabels Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString() == "mean"
                ? new FeedbackLabels { Mean = true }
                : throw new JsonException("labels.feedback: expected \"mean\" or {\"precedence\": [...]}");
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("labels.feedback: expected \"mean\" or {\"precedence\": [...]}");
        }
        List<string>? precedence = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString();
            reader.Read();
            if (name != "precedence")
            {
                throw new JsonException($"labels.feedback: unknown key '{name}' (expected precedence)");
            }
            precedence = JsonSerializer.Deserialize<List<string>>(ref reader, options)
                ?? throw new JsonException("labels.feedback.precedence: expected an array of sources");
        }
        return new FeedbackLabels { Precedence = precedence ?? throw new JsonException("labels.feedback.precedence: missing") };
    }

    public override void Write(Utf8JsonWriter writer, FeedbackLabels value, JsonSerializerOptions options)
    {
        if (value.Mean)
        {
            writer.WriteStringValue("mean");
            return;
        }
        writer.WriteStartObject();
        writer.WriteStartArray("precedence");
        foreach (var source in value.Precedence ?? [])
        {
            writer.WriteStringValue(source);
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
    }
}

/// <summary>One model of the catalogue (LLMRouter <c>llm_candidates</c> shape, plus an optional quality score).</summary>
public sealed record ModelCatalogEntry
{
    public string? Size { get; init; }
    public string? Feature { get; init; }
    public double? InputPrice { get; init; }
    public double? OutputPrice { get; init; }
    public string? Model { get; init; }
    public string? Service { get; init; }
    public string? Provider { get; init; }
    public double? QualityScore { get; init; }
}

/// <summary>What a build produced (also the body of <c>GET /admin/datasets/{id}</c>).</summary>
public sealed record DatasetInfo
{
    public required string DatasetId { get; init; }
    public required string Uri { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public long TotalRecords { get; init; }
    public long TrainRecords { get; init; }
    public long TestRecords { get; init; }
    public long UniqueQueries { get; init; }
    public IReadOnlyList<Contracts.ArtifactFile> Files { get; init; } = [];
    public JsonElement? Metadata { get; init; }
}

/// <summary>A dataset request that cannot be built as asked (names the field).</summary>
public sealed class DatasetRequestException(string field, string problem) : Exception($"{field}: {problem}")
{
    public string Field { get; } = field;
}
