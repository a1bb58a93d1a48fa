using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using RouteIQ.Artifacts;
using RouteIQ.Routing;

namespace RouteIQ.RouterServer;

/// <summary>
/// The <c>routeiq/router-server</c> workload: serves a trained router on <c>SERVE_PORT</c> —
/// <c>GET /ping</c>, <c>GET /health</c>, <c>POST /invocations</c>, <c>GET /metrics</c> — and
/// hot-reloads new versions of <c>SERVE_MODEL_URI</c>.
/// </summary>
public static class RouterServerApp
{
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication app;
        try
        {
            app = Build(ServerSettings.FromEnvironment(Environment.GetEnvironmentVariables()), args);
        }
        catch (ServerConfigurationException ex)
        {
            Console.Error.WriteLine($"router-server: invalid configuration: {ex.Message}");
            return 2;
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine($"router-server: invalid configuration: SERVE_MODEL_URI: {ex.Message}");
            return 2;
        }
        await app.RunAsync();
        return 0;
    }

    public static WebApplication Build(ServerSettings settings, string[]? args = null)
    {
        var verifier = settings.CreateVerifier();
        var builder = WebApplication.CreateSlimBuilder(args ?? []);
        builder.WebHost.UseUrls($"http://{(settings.Host.Contains(':') ? $"[{settings.Host}]" : settings.Host)}:{settings.Port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 4 * 1024 * 1024);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<ModelHolder>();
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton(sp => new ModelLoader(settings, verifier, sp.GetRequiredService<ILogger<ModelLoader>>()));
        builder.Services.AddHostedService<ModelReloader>();
        var app = builder.Build();
        app.MapGet("/ping", (ModelHolder holder) => holder.Current is null ? Results.Text("loading", statusCode: 503) : Results.Text("ok"));
        var verification = verifier?.SignatureType ?? ManifestSignatureTypes.None;
        var exploration = settings.Exploration.ToString();
        app.MapGet("/health", (ModelHolder holder) => Health(holder, verification, exploration));
        app.MapGet("/metrics", (ModelHolder holder, ServerMetrics metrics) => Results.Text(metrics.Render(holder), "text/plain; version=0.0.4"));
        app.MapPost("/invocations", Invoke);
        return app;
    }

    private static IResult Health(ModelHolder holder, string verification, string exploration)
    {
        var current = holder.Current;
        var body = new JsonObject
        {
            ["status"] = current is null ? "loading" : "ready",
            ["model_version"] = current?.Version,
            ["router_type"] = current?.Model.RouterType,
            ["models"] = current is null ? null : new JsonArray(current.Model.Models.Select(m => (JsonNode)m).ToArray()),
            ["loaded_at"] = current?.LoadedAt.ToString("O"),
            ["last_error"] = holder.LastError,
            ["last_error_at"] = holder.LastErrorAt?.ToString("O"),
            // "failed" while the newest version in the folder was refused; the model above keeps serving.
            ["last_load"] = holder.LastError is null ? "ok" : holder.LastErrorWasVerification ? "verification_failed" : "failed",
            ["manifest_verification"] = verification,
            ["exploration"] = exploration,
            ["load_failures"] = Interlocked.Read(ref holder.LoadFailures),
        };
        return Results.Text(body.ToJsonString(), "application/json", statusCode: current is null ? 503 : 200);
    }

    private static async Task<IResult> Invoke(HttpRequest request, ModelHolder holder, ServerMetrics metrics, ServerSettings settings)
    {
        var started = Stopwatch.GetTimestamp();
        var (result, status, queries) = await InvokeCore(request, holder, settings);
        metrics.Record("/invocations", status, Stopwatch.GetElapsedTime(started), queries);
        return result;
    }

    private static async Task<(IResult, int, int)> InvokeCore(HttpRequest request, ModelHolder holder, ServerSettings settings)
    {
        // One read of the reference: this request uses this version to the end, whatever reloads meanwhile.
        var current = holder.Current;
        if (current is null)
        {
            return (Error("model", "no model is loaded yet", 503), 503, 0);
        }
        JsonNode? body;
        try
        {
            body = await JsonNode.ParseAsync(request.Body);
        }
        catch (JsonException ex)
        {
            return (Error("body", $"not valid JSON: {ex.Message}"), 400, 0);
        }
        if (body is not JsonObject obj)
        {
            return (Error("body", "expected a JSON object {\"query\": ...} or {\"queries\": [...]}"), 400, 0);
        }
        var costWeight = settings.CostWeight ?? current.Model.CostWeight;
        if (obj["cost_weight"] is { } cw)
        {
            if (cw is not JsonValue v || !v.TryGetValue<double>(out costWeight) || costWeight < 0 || !double.IsFinite(costWeight))
            {
                return (Error("cost_weight", "expected a non-negative number"), 400, 0);
            }
        }
        if (obj["query"] is { } q)
        {
            if (q is not JsonValue qv || !qv.TryGetValue<string>(out var text) || string.IsNullOrWhiteSpace(text))
            {
                return (Error("query", "expected a non-empty string"), 400, 0);
            }
            string? requestId = null;
            if (obj["request_id"] is { } rid && (rid is not JsonValue ridv || !ridv.TryGetValue(out requestId) || string.IsNullOrEmpty(requestId)))
            {
                return (Error("request_id", "expected a non-empty string"), 400, 0);
            }
            return (Json(Decision(current, current.Model.Route(text, costWeight, settings.Exploration, requestId), costWeight)), 200, 1);
        }
        if (obj["queries"] is { } qs)
        {
            if (qs is not JsonArray array || array.Count == 0)
            {
                return (Error("queries", "expected a non-empty array of strings"), 400, 0);
            }
            if (array.Count > settings.MaxBatch)
            {
                return (Error("queries", $"at most {settings.MaxBatch} queries per request, got {array.Count}"), 400, 0);
            }
            var texts = new string[array.Count];
            for (var i = 0; i < texts.Length; i++)
            {
                if (array[i] is not JsonValue item || !item.TryGetValue<string>(out var t) || string.IsNullOrWhiteSpace(t))
                {
                    return (Error($"queries[{i}]", "expected a non-empty string"), 400, 0);
                }
                texts[i] = t;
            }
            string?[]? ids = null;
            if (obj["request_ids"] is { } ridsNode)
            {
                if (ridsNode is not JsonArray rids || rids.Count != texts.Length)
                {
                    return (Error("request_ids", $"expected an array of {texts.Length} strings, one per query"), 400, 0);
                }
                ids = new string?[texts.Length];
                for (var i = 0; i < ids.Length; i++)
                {
                    if (rids[i] is not JsonValue idv || !idv.TryGetValue<string>(out var id) || string.IsNullOrEmpty(id))
                    {
                        return (Error($"request_ids[{i}]", "expected a non-empty string"), 400, 0);
                    }
                    ids[i] = id;
                }
            }
            var decisions = current.Model.RouteBatch(texts, costWeight, Math.Min(Environment.ProcessorCount, 4), settings.Exploration, ids);
            var response = new JsonObject
            {
                ["results"] = new JsonArray(decisions.Select(d => (JsonNode)Decision(current, d, costWeight)).ToArray()),
                ["model_version"] = current.Version,
            };
            return (Json(response), 200, texts.Length);
        }
        return (Error("query", "missing: send {\"query\": text} or {\"queries\": [text, ...]}"), 400, 0);
    }

    private static JsonObject Decision(LoadedModel current, RoutingDecision d, double costWeight)
    {
        var scores = new JsonObject();
        for (var m = 0; m < current.Model.Models.Count; m++)
        {
            scores[current.Model.Models[m]] = Math.Round(d.Scores[m], 6);
        }
        return new JsonObject
        {
            ["model"] = d.Model,
            ["scores"] = scores,
            ["price"] = d.Price,
            ["cost_weight"] = costWeight,
            ["selection_probability"] = d.SelectionProbability,
            ["selection_reason"] = d.SelectionReason,
            ["router_type"] = current.Model.RouterType,
            ["model_version"] = current.Version,
        };
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static IResult Json(JsonNode node) => Results.Text(node.ToJsonString(JsonOptions), "application/json");

    private static IResult Error(string field, string problem, int status = 400) =>
        Results.Text(new JsonObject { ["error"] = $"{field}: {problem}", ["field"] = field }.ToJsonString(JsonOptions), "application/json", statusCode: status);
}
