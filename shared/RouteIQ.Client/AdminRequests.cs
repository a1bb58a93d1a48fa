using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace RouteIQ.Client;

// Request bodies of the admin API (specs/admin-api.md). Fields a client leaves unset are not sent: the
// server treats an absent field and null alike, and the job's stored request shows what was sent.

/// <summary><c>POST /admin/train/{trainer}</c> and <c>POST /admin/train_then_roll/{trainer}</c>.</summary>
public sealed record TrainRequest
{
    /// <summary>Seconds the trainer may run (1..86400); default: the spec's <c>timeout</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? WaitSeconds { get; init; }

    /// <summary>A key of the spec's <c>image_options</c>; absent or empty: the spec's <c>trainer_image</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ImageKey { get; init; }

    /// <summary>Environment overrides by name: a string as is, numbers and booleans as text, lists and objects as JSON, null removes the spec's value.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Parameters { get; init; }

    /// <summary>A dataset id, an absolute s3/file/http(s) URI or an absolute path; default: the spec's <c>dataset</c>, else the latest built.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Dataset { get; init; }

    /// <summary>The promotion (gate, shadow, canary) of the rollout that follows (docs: specs/promotion.md).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Promotion { get; init; }
}

/// <summary><c>POST /admin/roll</c>.</summary>
public sealed record RollRequest
{
    /// <summary>The registered model's name.</summary>
    public string? Name { get; init; }

    /// <summary><c>"@alias"</c> or an integer version (a JSON number is accepted too).</summary>
    public string? Ref { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ServeImage { get; init; }

    /// <summary>1..900, default 90.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? WaitReadySeconds { get; init; }

    /// <summary>The alias to point at the version once it is live.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Alias { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public JsonObject? Promotion { get; init; }
}

/// <summary><c>POST /admin/rollback</c>: back to the previous deployment (of <c>name</c>, default the active one).</summary>
public sealed record RollbackRequest
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Name { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ServeImage { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? WaitReadySeconds { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Alias { get; init; }
}

/// <summary><c>POST /admin/evaluations</c>: off-policy evaluation of a registered router on a dataset.</summary>
public sealed record EvaluationRequest
{
    public required string Model { get; init; }

    /// <summary><c>"@alias"</c> or an integer version; default <c>@production</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Version { get; init; }

    public required string Dataset { get; init; }

    /// <summary><c>test</c> (default) or <c>train</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Split { get; init; }
}

/// <summary><c>POST /admin/telemetry/jaeger</c>: backfill decisions from a Jaeger query service.</summary>
public sealed record JaegerImportRequest
{
    public string? Url { get; init; }
    public string? Service { get; init; }

    /// <summary>Epoch microseconds; default one hour before <see cref="End"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Start { get; init; }

    /// <summary>Epoch microseconds; default now.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? End { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Limit { get; init; }
}
