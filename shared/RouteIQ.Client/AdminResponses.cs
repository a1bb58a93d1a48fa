using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using RouteIQ.Contracts;

namespace RouteIQ.Client;

// Response documents of the admin API (specs/admin-api.md). Nested documents whose shape belongs to
// another part (a job's stored request and result, a rollout's promotion and stats, a continuous
// policy) are JSON objects here; their fields are described in docs/.

/// <summary>What a 202 carries: enough to follow the job (GET <see cref="Location"/> for everything).</summary>
public sealed record JobSummary(
    Guid JobId, string Kind, string? Trainer, string? ModelName, string State, int Attempt, DateTimeOffset CreatedAt,
    string Location, string Logs);

/// <summary><c>GET /admin/jobs/{id}</c>: a job, secrets redacted.</summary>
public sealed record JobDocument
{
    public required Guid JobId { get; init; }
    public required string Kind { get; init; }
    public string? Trainer { get; init; }
    public string? ModelName { get; init; }
    public required string State { get; init; }
    public string? Phase { get; init; }
    public int Attempt { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? LastHeartbeatAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public string? Node { get; init; }
    public string? Workload { get; init; }

    /// <summary>The request as received (parameters with secret-looking names redacted).</summary>
    public JsonObject? Request { get; init; }

    /// <summary>What the request resolved to: image, environment, parameters, dataset, timeout.</summary>
    public JsonObject? Resolved { get; init; }

    /// <summary>The train or roll response once the job succeeded.</summary>
    public JsonObject? Result { get; init; }

    /// <summary>The error document once the job failed or was cancelled.</summary>
    public JsonObject? Error { get; init; }

    /// <summary>The HTTP status a synchronous request got (or would have got) for the failure.</summary>
    public int? StatusCode { get; init; }

    public required string Location { get; init; }
    public required string Logs { get; init; }
}

/// <summary><c>GET /admin/jobs</c>.</summary>
public sealed record JobList(IReadOnlyList<JobDocument> Jobs);

/// <summary>The response of <c>POST /admin/train/{trainer}</c> once training succeeded.</summary>
public record TrainResponse
{
    public Guid JobId { get; init; }
    public string? Trainer { get; init; }

    /// <summary>The workload (container or process) name.</summary>
    public string? Container { get; init; }

    /// <summary>The MLflow run id when MLflow is configured.</summary>
    public string? RunId { get; init; }

    public string? RegisteredModel { get; init; }
    public int? Version { get; init; }
    public string? ModelUri { get; init; }

    /// <summary>From the trainer's <c>metrics.json</c>; non-finite values are null.</summary>
    public Dictionary<string, double?>? Metrics { get; init; }

    public string? ImageKey { get; init; }
    public string? ServeImage { get; init; }

    /// <summary>The applied overrides exactly as passed to the trainer, null for removed keys (secret-looking names redacted).</summary>
    public Dictionary<string, string?>? Parameters { get; init; }

    public string? LogsTail { get; init; }
    public double? DurationSeconds { get; init; }

    /// <summary>Fields a newer server adds; kept so that nothing is lost on the way through.</summary>
    [JsonExtensionData]
    public Dictionary<string, JsonElement>? More { get; init; }
}

/// <summary>The response of <c>POST /admin/train_then_roll/{trainer}</c> (and of a spec with <c>auto_roll</c>).</summary>
public sealed record TrainThenRollResponse : TrainResponse
{
    public bool? Rolled { get; init; }
    public string? Alias { get; init; }
    public string? PublicUrl { get; init; }
}

/// <summary>The response of <c>POST /admin/roll</c> and <c>POST /admin/rollback</c>.</summary>
public sealed record RollResponse
{
    public bool? Active { get; init; }

    /// <summary>The serving endpoint of the version (internal).</summary>
    public string? Url { get; init; }

    /// <summary>The stable endpoint.</summary>
    public string? PublicUrl { get; init; }

    public string? Name { get; init; }
    public int? Version { get; init; }
    public string? Alias { get; init; }
    public string? ModelUri { get; init; }
    public string? ServeImage { get; init; }
    public Guid JobId { get; init; }
    public bool IsRollback { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? More { get; init; }
}

/// <summary><c>GET /status</c>: the active deployment (<c>url</c> and <c>model_uri</c> only for an admin).</summary>
public sealed record StatusResponse
{
    public bool Active { get; init; }
    public string? Url { get; init; }
    public string? PublicUrl { get; init; }

    /// <summary>A live probe of the serving endpoint.</summary>
    public bool Healthy { get; init; }

    public string? ModelName { get; init; }
    public string? ModelUri { get; init; }
    public int? ModelVersion { get; init; }
    public string? ModelAlias { get; init; }
    public string? ServeImage { get; init; }
    public DateTimeOffset? DeployedAt { get; init; }
    public PreviousDeployment? Previous { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Guid? DeploymentId { get; init; }
}

public sealed record PreviousDeployment(string Name, int Version);

/// <summary><c>GET /admin/deployments</c>: newest first.</summary>
public sealed record DeploymentList(IReadOnlyList<DeploymentInfo> Deployments);

/// <summary><c>GET /admin/trainers</c>: the specs in force (secrets redacted) and the files that failed to load.</summary>
public sealed record TrainerList(string Path, IReadOnlyDictionary<string, TrainerView> Trainers, IReadOnlyList<TrainerSpecError> Errors);

/// <summary>One trainer spec as served (env values with secret-looking names redacted).</summary>
public sealed record TrainerView
{
    public string? File { get; init; }
    public int Line { get; init; }
    public string? TrainerImage { get; init; }
    public IReadOnlyDictionary<string, string>? ImageOptions { get; init; }
    public string? ServeImage { get; init; }
    public IReadOnlyDictionary<string, string>? ServeImageOptions { get; init; }
    public int? Timeout { get; init; }
    public int Gpus { get; init; }
    public IReadOnlyDictionary<string, string?>? Env { get; init; }
    public string? ModelName { get; init; }
    public IReadOnlyList<string>? Command { get; init; }
    public IReadOnlyList<string>? ServeCommand { get; init; }
    public string? Dataset { get; init; }
    public bool AutoRoll { get; init; }
    public ResourceLimits? Resources { get; init; }
}

/// <summary>A spec file that failed to load: where and why (<c>message</c> is <c>file:line:column: reason</c>).</summary>
public sealed record TrainerSpecError(string File, int Line, int Column, string Reason, string Message);

/// <summary><c>GET /admin/models/{name}/routing-config</c>: what a RouteIQ gateway needs to load the model.</summary>
public sealed record RoutingConfig
{
    /// <summary><c>llmrouter-{router_type}</c> for the project's routers, else <c>custom</c>.</summary>
    public required string RoutingStrategy { get; init; }
    public string? ModelS3Bucket { get; init; }
    public string? ModelS3Key { get; init; }
    public required string ModelUri { get; init; }

    /// <summary>True for an alias (follows every rollout), false for a pinned version.</summary>
    public bool HotReload { get; init; }

    /// <summary>Seconds between a polling gateway's checks of <c>manifest.json</c>.</summary>
    public int ReloadInterval { get; init; }

    /// <summary><c>none</c>, <c>hmac-sha256</c> or <c>ed25519</c>.</summary>
    public required string ManifestVerification { get; init; }
    public required string Name { get; init; }
    public int Version { get; init; }
    public required string Ref { get; init; }
}

/// <summary><c>GET /admin/evaluations</c>: a version's stored evaluations.</summary>
public sealed record EvaluationList(string Model, int Version, JsonArray Evaluations);

/// <summary><c>GET /admin/rollouts/{id}</c>: one promotion (gate, shadow, canary) of a version.</summary>
public sealed record RolloutDocument
{
    public Guid RolloutId { get; init; }
    public string? Model { get; init; }
    public int? FromVersion { get; init; }
    public int ToVersion { get; init; }
    public string? Strategy { get; init; }
    public string? State { get; init; }
    public int Step { get; init; }
    public double Weight { get; init; }
    public bool Paused { get; init; }
    public DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public string? Reason { get; init; }
    public JsonObject? Promotion { get; init; }

    /// <summary>Per-version requests, errors and latency of the current window (<c>baseline</c>, <c>candidate</c>).</summary>
    public JsonObject? Stats { get; init; }

    public JsonArray? History { get; init; }
    public Guid? TrainJobId { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? More { get; init; }
}

/// <summary><c>GET /admin/rollouts</c>: newest first.</summary>
public sealed record RolloutList(IReadOnlyList<RolloutDocument> Rollouts);

/// <summary><c>GET /admin/continuous</c>: per trainer with a continuous block, its policy, state and counters.</summary>
public sealed record ContinuousList(IReadOnlyDictionary<string, JsonObject> Trainers);

/// <summary><c>POST /admin/continuous/{trainer}/pause</c> and <c>…/resume</c>.</summary>
public sealed record ContinuousPauseState(string Trainer, bool Paused, DateTimeOffset UpdatedAt);

/// <summary>A continuous-training run: what fired it, its dataset and its train job.</summary>
public sealed record ContinuousRunDocument
{
    public Guid RunId { get; init; }
    public string? Trigger { get; init; }
    public JsonNode? Details { get; init; }
    public string? State { get; init; }
    public DateTimeOffset FiredAt { get; init; }
    public string? Dataset { get; init; }
    public Guid? JobId { get; init; }
    public string? JobState { get; init; }
    public string? Error { get; init; }
}

/// <summary>
/// An error: RFC 7807 problem+json that also carries the fields existing clients read at the top
/// level (<c>error</c>, and <c>field</c> naming the bad input; others per operation).
/// </summary>
public sealed record ApiProblemDocument
{
    public string? Type { get; init; }
    public string? Title { get; init; }
    public int Status { get; init; }
    public string? Detail { get; init; }
    public string? Error { get; init; }

    /// <summary>The request field that was refused.</summary>
    public string? Field { get; init; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? More { get; init; }
}
