using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using RouteIQ.Client;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// The OpenAPI document of the whole API (<c>routeiq up</c>: admin and ingest in one process) describes
/// every admin and ingest operation with request and response schemas, in the names on the wire.
/// </summary>
[Trait("Category", "Integration")]
public sealed class OpenApiDocumentTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    /// <summary>The operations that take a body.</summary>
    private static readonly string[] WithBody =
    [
        "Train", "TrainThenRoll", "Roll", "Rollback", "CreateEvaluation", "IngestTelemetryEvents", "IngestJaeger", "BuildDataset",
        "IngestFeedback", "OtlpTraces",
    ];

    public async Task InitializeAsync()
    {
        var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var specs = TestInfra.TempDirectory("openapi-specs");
        _app = Cli.EmbeddedHost.Build(
        [
            "--urls", url,
            "--RouteIQ:DataDir", TestInfra.TempDirectory("openapi-data"),
            "--RouteIQ:Specs:Path", specs,
            "--RouteIQ:Rollout:PublicUrl", $"http://127.0.0.1:{TestInfra.FreePort()}",
            "--Logging:LogLevel:Default", "Warning",
        ]);
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri(url) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        await _app.DisposeAsync();
    }

    [Fact]
    public async Task Every_admin_and_ingest_operation_has_request_and_response_schemas_and_the_security_schemes()
    {
        var doc = JsonNode.Parse(await _http.GetStringAsync("/openapi/v1.json"))!.AsObject();
        var schemas = doc["components"]!["schemas"]!.AsObject();
        var schemes = doc["components"]!["securitySchemes"]!.AsObject();
        Assert.True(schemes.ContainsKey("Bearer") && schemes.ContainsKey("ApiKey"), schemes.ToJsonString());
        Assert.NotEmpty(doc["security"]!.AsArray());

        var seen = new List<string>();
        foreach (var (path, item) in doc["paths"]!.AsObject())
        {
            if (!(path.StartsWith("/admin/", StringComparison.Ordinal) || path.StartsWith("/v1/", StringComparison.Ordinal) || path == "/status"))
            {
                continue;
            }
            foreach (var (method, node) in item!.AsObject())
            {
                if (node is not JsonObject operation || operation["responses"] is null)
                {
                    continue;
                }
                var id = (string?)operation["operationId"] ?? $"{method} {path}";
                seen.Add(id);
                var responses = operation["responses"]!.AsObject();
                var success = responses.Where(r => r.Key.StartsWith('2')).ToList();
                Assert.True(success.Count > 0, $"{id}: no success response");
                foreach (var (status, response) in responses)
                {
                    Assert.True(HasSchema(response), $"{id} {status}: no schema in {response!.ToJsonString()}");
                }
                Assert.True(responses.Any(r => r.Key[0] is '4' or '5'), $"{id}: no error response declared");
                if (WithBody.Contains(id))
                {
                    Assert.True(HasSchema(operation["requestBody"]), $"{id}: no request body schema");
                }
            }
        }
        foreach (var id in WithBody.Concat(["ListJobs", "GetJob", "CancelJob", "GetJobLogs", "ListDeployments", "ListTrainers", "Status",
                     "GetRoutingConfig", "ListRollouts", "GetRollout", "ControlRollout", "ListEvaluations", "ListContinuous", "PauseContinuous",
                     "ResumeContinuous", "TriggerContinuous", "TelemetrySummary", "RejectedEvents", "ListDatasets", "GetDataset"]))
        {
            Assert.Contains(id, seen);
        }

        // The schemas carry the names on the wire (snake_case), as the spec names them.
        Assert.Equal(["wait_seconds", "image_key", "parameters", "dataset", "promotion"], Properties(schemas, "TrainRequest"));
        Assert.Equal(["name", "ref", "serve_image", "wait_ready_seconds", "alias", "promotion"], Properties(schemas, "RollRequest"));
        AssertHas(schemas, "TrainResponse", ["job_id", "trainer", "container", "run_id", "registered_model", "version", "model_uri", "metrics", "image_key", "serve_image",
             "parameters", "logs_tail", "duration_seconds"]);
        AssertHas(schemas, "StatusResponse", ["active", "url", "public_url", "healthy", "model_name", "model_uri", "model_version", "model_alias", "serve_image", "deployed_at", "previous"]);
        AssertHas(schemas, "JobDocument", ["job_id", "kind", "state", "phase", "attempt", "result", "error", "location", "logs"]);
        AssertHas(schemas, "ApiProblemDocument", ["type", "title", "status", "error", "field"]);
    }

    [Fact]
    public async Task A_train_on_an_unknown_trainer_answers_the_declared_problem_document()
    {
        using var response = await _http.PostAsync("/admin/train/nope", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(404, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = System.Text.Json.JsonSerializer.Deserialize<ApiProblemDocument>(await response.Content.ReadAsStringAsync(), ApiJson.Options)!;
        Assert.Equal(404, problem.Status);
        Assert.Equal("trainer spec not found", problem.Error);
        Assert.True(problem.More!.ContainsKey("trainer"));
    }

    private static void AssertHas(JsonObject schemas, string name, string[] fields)
    {
        var properties = Properties(schemas, name);
        Assert.True(fields.All(properties.Contains), $"{name}: {string.Join(", ", properties)}");
    }

    private static bool HasSchema(JsonNode? holder)
        => holder?["content"] is JsonObject content && content.Count > 0 && content.All(c => c.Value?["schema"] is JsonObject);

    private static List<string> Properties(JsonObject schemas, string name)
    {
        Assert.True(schemas.ContainsKey(name), $"no schema {name}: {string.Join(", ", schemas.Select(s => s.Key))}");
        return schemas[name]!["properties"]!.AsObject().Select(p => p.Key).ToList();
    }
}
