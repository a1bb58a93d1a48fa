using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Routing;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>
/// <c>POST /admin/evaluations {"model", "version": n | "@alias", "dataset", "split": "test"}</c>:
/// off-policy evaluation (IPS, SNIPS, DR with 95 % intervals) of a registered router on a built
/// dataset's logged decisions; the result is stored next to the version
/// (<c>registry/{model}/{version}/evaluations/{id}.json</c>) and returned. <c>GET
/// /admin/evaluations?model=&amp;version=</c> lists a version's evaluations. The version's manifest is
/// verified with the key rollout signs with (<c>RouteIQ:Rollout:Signing</c>), as serving does.
/// </summary>
public static class EvaluationsEndpoints
{
    public static IEndpointRouteBuilder MapEvaluationEndpoints(this IEndpointRouteBuilder admin)
    {
        admin.MapPost("/evaluations", CreateAsync).DescribeBody(typeof(EvaluationRequest))
            .WithName("CreateEvaluation").WithSummary("Off-policy evaluation of a registered router on a dataset's logged decisions (IPS, SNIPS, DR)");
        admin.MapGet("/evaluations", ListAsync)
            .WithName("ListEvaluations").WithSummary("A model version's stored evaluations (model, version: n or @alias)");
        return admin;
    }

    [ApiProblemStatuses(400, 404, 413, 422, 503)]
    private static async Task<Results<Created<JsonObject>, ApiProblem>> CreateAsync(HttpRequest request, IRequestClient<ResolveModelVersion> client, IArtifactStore store,
        IConfiguration configuration, TimeProvider time, IOptions<AdminOptions> options, CancellationToken cancellationToken)
    {
        // The same reader as train and roll: UTF-8 checked up front, malformed JSON and over-large bodies as problem+json.
        var (json, bodyProblem) = await RequestBodies.ReadAsync(request, cancellationToken);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }
        if (json is not { } body)
        {
            return ApiProblems.Field("body", "body must be a JSON object {model, version, dataset, split}");
        }
        foreach (var property in body.EnumerateObject())
        {
            if (property.Name is not ("model" or "version" or "dataset" or "split"))
            {
                return ApiProblems.Field(property.Name, $"unknown field '{property.Name}' (known: model, version, dataset, split)");
            }
        }
        if (!body.TryGetProperty("model", out var modelElement) || modelElement.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(modelElement.GetString()))
        {
            return ApiProblems.Field("model", "model must be a registered model's name");
        }
        if (Identifiers.Problem(modelElement.GetString(), "model") is { } modelProblem)
        {
            return ApiProblems.Field("model", modelProblem);
        }
        if (!body.TryGetProperty("dataset", out var datasetElement) || datasetElement.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(datasetElement.GetString()))
        {
            return ApiProblems.Field("dataset", "dataset must be a dataset id");
        }
        var split = "test";
        if (body.TryGetProperty("split", out var splitElement) && splitElement.ValueKind != JsonValueKind.Null)
        {
            if (splitElement.ValueKind != JsonValueKind.String || !RegisteredRouterEvaluation.Splits.Contains(splitElement.GetString()))
            {
                return ApiProblems.Field("split", $"split must be one of {string.Join(", ", RegisteredRouterEvaluation.Splits)}");
            }
            split = splitElement.GetString()!;
        }
        var reference = body.TryGetProperty("version", out var versionElement) ? RequestBodies.NormalizeRef(versionElement) : "@production";
        if (reference is null)
        {
            return ApiProblems.Field("version", "version must be '@alias' or integer version");
        }
        var resolved = await ResolveAsync(client, modelElement.GetString()!, reference, options.Value, cancellationToken);
        if (resolved.Problem is { } problem)
        {
            return problem;
        }
        try
        {
            var result = await RegisteredRouterEvaluation.RunAsync(store, Verifier(configuration), resolved.Model!, resolved.Version, datasetElement.GetString()!, split,
                NewId.NextSequentialGuid().ToString("N"), time.GetUtcNow(), cancellationToken);
            result["ref"] = reference;
            return TypedResults.Created((string?)null, result);
        }
        catch (EvaluationException ex)
        {
            return ApiProblems.Create(ex.Status, ex.Message, [new("field", ex.Field)]);
        }
    }

    [ApiProblemStatuses(400, 404, 503)]
    private static async Task<Results<Ok<EvaluationList>, ApiProblem>> ListAsync(string? model, string? version, IRequestClient<ResolveModelVersion> client, IArtifactStore store,
        IOptions<AdminOptions> options, CancellationToken cancellationToken)
    {
        if (Identifiers.Problem(model, "model") is { } modelProblem)
        {
            return ApiProblems.Field("model", modelProblem);
        }
        var reference = string.IsNullOrWhiteSpace(version) ? "@production" : RequestBodies.NormalizeRef(JsonSerializer.SerializeToElement(version.Trim()));
        if (reference is null)
        {
            return ApiProblems.Field("version", "version must be '@alias' or integer version");
        }
        var resolved = await ResolveAsync(client, model!, reference, options.Value, cancellationToken); // a valid identifier: not null
        if (resolved.Problem is { } problem)
        {
            return problem;
        }
        var items = await RegisteredRouterEvaluation.ListAsync(store, resolved.Model!, resolved.Version, cancellationToken);
        return TypedResults.Ok(new EvaluationList(resolved.Model!, resolved.Version, items));
    }

    private static async Task<(string? Model, int Version, ApiProblem? Problem)> ResolveAsync(IRequestClient<ResolveModelVersion> client, string model, string reference,
        AdminOptions options, CancellationToken cancellationToken)
    {
        try
        {
            ArtifactKeys.RegistryVersion(model, 1);
        }
        catch (ArgumentException ex)
        {
            return (null, 0, ApiProblems.Field("model", ex.Message));
        }
        try
        {
            var response = await client.GetResponse<ModelVersionResolved, ModelVersionNotFound>(
                new ResolveModelVersion { ModelName = model, Ref = reference }, cancellationToken, RequestTimeout.After(s: options.RolloutAnswerSeconds));
            if (response.Message is ModelVersionNotFound missing)
            {
                return (null, 0, ApiProblems.Create(404, missing.Reason, [new("model", model), new("version", reference)]));
            }
            var found = (ModelVersionResolved)response.Message;
            return (found.ModelName, found.Version, null);
        }
        catch (RequestTimeoutException)
        {
            return (null, 0, AdminEndpoints.RolloutUnavailable());
        }
    }

    /// <summary>The key rollout signs manifests with (<c>RouteIQ:Rollout:Signing:HmacKey</c> or <c>:Ed25519PrivateKeyPath</c>); null when none is configured.</summary>
    private static IManifestSigner? Verifier(IConfiguration configuration)
    {
        var hmac = configuration["RouteIQ:Rollout:Signing:HmacKey"];
        if (!string.IsNullOrEmpty(hmac))
        {
            return new HmacManifestSigner(hmac);
        }
        var ed25519 = configuration["RouteIQ:Rollout:Signing:Ed25519PrivateKeyPath"];
        return string.IsNullOrEmpty(ed25519) ? null : Ed25519ManifestSigner.FromPrivateKeyFile(ed25519);
    }
}
