using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using RouteIQ.Contracts;
using RouteIQ.RouterTrainer;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Specs;

/// <summary>The body of <c>POST /admin/train/{trainer}</c> and <c>/admin/train_then_roll/{trainer}</c>.</summary>
public sealed record TrainBody
{
    public int? WaitSeconds { get; init; }
    public string? ImageKey { get; init; }

    /// <summary>In the order the caller sent them.</summary>
    public IReadOnlyList<KeyValuePair<string, JsonElement>> Parameters { get; init; } = [];

    /// <summary>Ours: a dataset id or URI to attach, overriding the spec's <c>dataset</c>.</summary>
    public string? Dataset { get; init; }

    /// <summary>The request's <c>promotion</c> block, overriding the spec's for this rollout.</summary>
    public Promotion? Promotion { get; init; }
}

/// <summary>Everything a train request resolved to: what <see cref="TrainRequested"/> carries.</summary>
public sealed record ResolvedTrain
{
    public required string Trainer { get; init; }
    public required string Image { get; init; }
    public string? ImageKey { get; init; }
    public string? ServeImage { get; init; }
    public required int TimeoutSeconds { get; init; }
    public int Gpus { get; init; }
    public required IReadOnlyDictionary<string, string> Environment { get; init; }
    public required IReadOnlyDictionary<string, string?> Parameters { get; init; }
    public required string ModelName { get; init; }
    public IReadOnlyList<string>? Command { get; init; }
    public IReadOnlyList<string>? ServeCommand { get; init; }
    public string? DatasetUri { get; init; }
    public ResourceLimits? Resources { get; init; }
    public bool AutoRoll { get; init; }
    public Promotion? Promotion { get; init; }
}

/// <summary>A request the spec page rejects: the HTTP status, the compatible <c>error</c> text and its fields.</summary>
public sealed record ResolutionError(int StatusCode, string Error, IReadOnlyDictionary<string, object?> Fields);

/// <summary>
/// The spec page's "Resolution of one request", as a pure function of the trainers in force,
/// the request and the server's own environment (the <c>TRAINER_IMAGE</c>, <c>SERVE_IMAGE</c>
/// and <c>TRAINER_TIMEOUT_SEC</c> fallbacks).
/// </summary>
public static class TrainRequestResolver
{
    public const int DefaultTimeoutSeconds = 1800;
    public const int MaxWaitSeconds = 86400;

    private static readonly JsonWriterOptions CompactJson = new() { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static (ResolvedTrain? Resolved, ResolutionError? Error) Resolve(
        IReadOnlyDictionary<string, TrainerSpec> trainers, string trainer, TrainBody body, Func<string, string?> serverEnvironment)
    {
        var imageKey = string.IsNullOrEmpty(body.ImageKey) ? null : body.ImageKey;
        if (!trainers.TryGetValue(trainer, out var spec))
        {
            return Fail(404, "trainer spec not found", ("trainer", trainer), ("image_key", imageKey));
        }

        string? image;
        if (imageKey is null)
        {
            image = spec.TrainerImage ?? NonEmpty(serverEnvironment("TRAINER_IMAGE"));
        }
        else if (!spec.ImageOptions.TryGetValue(imageKey, out image))
        {
            return Fail(400, "unknown trainer image key", ("trainer", trainer), ("image_key", imageKey),
                ("available_keys", spec.ImageOptions.Keys.Order(StringComparer.Ordinal).ToList()));
        }
        if (image is null)
        {
            return Fail(422, "trainer_image not configured", ("trainer", trainer), ("image_key", imageKey),
                ("hint", $"set trainer_image (or image_options) for '{trainer}' in {spec.SourceFile}, or TRAINER_IMAGE on the server"));
        }

        var serveImage = imageKey is not null && spec.ServeImageOptions.TryGetValue(imageKey, out var keyed) ? keyed
            : spec.ServeImage ?? NonEmpty(serverEnvironment("SERVE_IMAGE"));

        int timeout;
        if (body.WaitSeconds is { } wait)
        {
            if (wait is < 1 or > MaxWaitSeconds)
            {
                return Fail(400, $"wait_seconds must be between 1 and {MaxWaitSeconds}", ("field", "wait_seconds"), ("trainer", trainer));
            }
            timeout = wait;
        }
        else
        {
            timeout = spec.TimeoutSeconds
                ?? (int.TryParse(serverEnvironment("TRAINER_TIMEOUT_SEC"), NumberStyles.None, CultureInfo.InvariantCulture, out var t) && t > 0 ? t : DefaultTimeoutSeconds);
        }

        var environment = new Dictionary<string, string>(spec.Env, StringComparer.Ordinal);
        var parameters = new Dictionary<string, string?>(StringComparer.Ordinal);
        var builtInTrainer = IsBuiltInTrainer(image, spec.Command);
        foreach (var (name, value) in body.Parameters)
        {
            if (!EnvironmentNames.IsValid(name))
            {
                return Fail(400, $"invalid parameter name '{name}': parameter names must be environment variable names ([A-Za-z_][A-Za-z0-9_]*)",
                    ("field", $"parameters.{name}"), ("trainer", trainer));
            }
            // The runner's variables decide what the process loads, runs and writes: never a caller's to set.
            if (RunnerOwnedVariables.IsRunnerOwned(name))
            {
                return Fail(400, RunnerOwnedVariables.Problem(name), ("field", $"parameters.{name}"), ("trainer", trainer));
            }
            // What the built-in trainer would refuse at start (exit 2) is refused here, before any job exists.
            if (builtInTrainer && TrainerSettingNames.Problem(name) is { } unknown)
            {
                return Fail(400, $"parameter '{name}': {unknown}", ("field", $"parameters.{name}"), ("trainer", trainer));
            }
            var text = ToEnvironmentValue(value);
            parameters[name] = text;
            if (text is null)
            {
                environment.Remove(name);
            }
            else
            {
                environment[name] = text;
            }
        }

        var modelName = spec.ModelName
            ?? (environment.TryGetValue("REGISTERED_MODEL_NAME", out var registered) && registered.Length > 0 ? registered : trainer);

        return (new ResolvedTrain
        {
            Trainer = trainer,
            Image = image,
            ImageKey = imageKey,
            ServeImage = serveImage,
            TimeoutSeconds = timeout,
            Gpus = spec.Gpus,
            Environment = environment,
            Parameters = parameters,
            ModelName = modelName,
            Command = spec.Command,
            ServeCommand = spec.ServeCommand,
            DatasetUri = string.IsNullOrWhiteSpace(body.Dataset) ? spec.Dataset : body.Dataset.Trim(),
            Resources = spec.Resources,
            AutoRoll = spec.AutoRoll,
            Promotion = body.Promotion ?? spec.Promotion,
        }, null);
    }

    /// <summary>
    /// A parameter as the trainer sees it: <c>null</c> removes the variable, text as is,
    /// numbers in their JSON form, booleans as <c>true</c>/<c>false</c>, lists and objects as compact JSON.
    /// </summary>
    public static string? ToEnvironmentValue(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Null:
            case JsonValueKind.Undefined:
                return null;
            case JsonValueKind.String:
                return value.GetString();
            case JsonValueKind.True:
                return "true";
            case JsonValueKind.False:
                return "false";
            case JsonValueKind.Number:
                return value.GetRawText();
            default:
                using (var buffer = new MemoryStream())
                {
                    using (var writer = new Utf8JsonWriter(buffer, CompactJson))
                    {
                        value.WriteTo(writer);
                    }
                    return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
                }
        }
    }

    /// <summary>Reads a boolean a trainer received: ours (<c>true</c>/<c>false</c>) or the Python implementation's (<c>True</c>/<c>False</c>).</summary>
    public static bool? ReadBoolean(string? text) => text?.Trim() switch
    {
        "true" or "True" or "TRUE" or "1" => true,
        "false" or "False" or "FALSE" or "0" => false,
        _ => null,
    };

    /// <summary><c>routeiq/router-trainer</c> (any tag or registry) run without a command of the spec's own.</summary>
    public static bool IsBuiltInTrainer(string image, IReadOnlyList<string>? command)
    {
        if (command is { Count: > 0 })
        {
            return false;
        }
        var colon = image.LastIndexOf(':');
        var repository = colon > image.LastIndexOf('/') ? image[..colon] : image;
        return repository.Equals(BuiltInTrainerImage, StringComparison.OrdinalIgnoreCase)
            || repository.EndsWith("/" + BuiltInTrainerImage, StringComparison.OrdinalIgnoreCase);
    }

    public const string BuiltInTrainerImage = "routeiq/router-trainer";

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static (ResolvedTrain?, ResolutionError?) Fail(int status, string error, params (string Key, object? Value)[] fields)
        => (null, new ResolutionError(status, error, fields.ToDictionary(f => f.Key, f => f.Value)));
}
