using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>
/// <c>GET /admin/models/{name}/routing-config?ref=@production</c>: the settings a RouteIQ gateway
/// needs to load a model (seed 001's last step): <c>routing_strategy</c>, <c>model_s3_bucket</c>,
/// <c>model_s3_key</c>, <c>hot_reload</c>, <c>reload_interval</c>, and how its manifest is signed.
/// An alias points gateways at <c>models/{name}/</c> (the active version, hot-reloaded on every
/// rollout); a version number pins them to that version's immutable registry folder.
/// </summary>
public static class RoutingConfigEndpoint
{
    public static IEndpointRouteBuilder MapRoutingConfigEndpoint(this IEndpointRouteBuilder admin)
    {
        admin.MapGet("/models/{name}/routing-config", GetAsync)
            .WithName("GetRoutingConfig").WithSummary("Gateway settings for a model version (ref: @alias, default @production, or a version)");
        return admin;
    }

    [ApiProblemStatuses(400, 404, 503)]
    private static async Task<Results<Ok<RoutingConfig>, ApiProblem>> GetAsync(string name, string? @ref, IRequestClient<ResolveModelVersion> client, IArtifactStore store,
        IOptions<AdminOptions> options, CancellationToken cancellationToken)
    {
        if (Identifiers.Problem(name, "name") is { } nameProblem)
        {
            return ApiProblems.Field("name", nameProblem);
        }
        var reference = string.IsNullOrWhiteSpace(@ref) ? "@production" : @ref.Trim();
        if (RequestBodies.NormalizeRef(JsonSerializer.SerializeToElement(reference)) is not { } normalized)
        {
            return ApiProblems.Field("ref", "ref must be '@alias' or integer version");
        }
        Response response;
        try
        {
            response = await client.GetResponse<ModelVersionResolved, ModelVersionNotFound>(
                new ResolveModelVersion { ModelName = name, Ref = normalized }, cancellationToken, RequestTimeout.After(s: options.Value.RolloutAnswerSeconds));
        }
        catch (RequestTimeoutException)
        {
            return AdminEndpoints.RolloutUnavailable();
        }
        if (response.Message is ModelVersionNotFound missing)
        {
            return ApiProblems.Create(404, missing.Reason, [new("name", name), new("ref", normalized)]);
        }
        var version = (ModelVersionResolved)response.Message;
        var folder = ArtifactKeys.RegistryVersion(version.ModelName, version.Version);
        var manifest = await ReadManifestAsync(store, folder, cancellationToken);
        var routerType = manifest is null ? null : await ReadRouterTypeAsync(store, folder, manifest, cancellationToken);
        var pinned = !normalized.StartsWith('@');
        var key = pinned ? folder : ArtifactKeys.PublishedModel(version.ModelName);
        var root = store.Root;
        var isS3 = root.Scheme == "s3";
        var prefix = root.AbsolutePath.Trim('/');
        return TypedResults.Ok(new RoutingConfig
        {
            RoutingStrategy = routerType is null ? "custom" : $"llmrouter-{routerType}",
            ModelS3Bucket = isS3 ? root.Host : null,
            ModelS3Key = isS3 ? (prefix.Length > 0 ? $"{prefix}/{key}" : key) : null,
            ModelUri = store.GetUri(key),
            HotReload = !pinned,
            ReloadInterval = options.Value.GatewayReloadIntervalSeconds,
            ManifestVerification = manifest?.SignatureType ?? ManifestSignatureTypes.None,
            Name = version.ModelName,
            Version = version.Version,
            Ref = normalized,
        });
    }

    private static async Task<ModelManifest?> ReadManifestAsync(IArtifactStore store, string folder, CancellationToken cancellationToken)
    {
        var key = folder + ModelManifest.FileName;
        if (!await store.ExistsAsync(key, cancellationToken))
        {
            return null;
        }
        await using var stream = await store.OpenReadAsync(key, cancellationToken);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        return ModelManifest.Parse(buffer.ToArray());
    }

    /// <summary>
    /// <c>router_type</c> from the header of the version's <c>*.model</c> file (docs/model-format.md:
    /// 8-byte magic, version, header length, header JSON); null for models of other trainers.
    /// </summary>
    private static async Task<string?> ReadRouterTypeAsync(IArtifactStore store, string folder, ModelManifest manifest, CancellationToken cancellationToken)
    {
        var file = manifest.Artifacts.FirstOrDefault(a => a.Path.EndsWith(".model", StringComparison.Ordinal));
        if (file is null)
        {
            return null;
        }
        await using var stream = await store.OpenReadAsync(folder + file.Path, cancellationToken);
        var head = new byte[16];
        if (await stream.ReadAtLeastAsync(head, 16, throwOnEndOfStream: false, cancellationToken) < 16
            || Encoding.ASCII.GetString(head, 0, 8) != "RIQROUTR")
        {
            return null;
        }
        var length = BinaryPrimitives.ReadUInt32LittleEndian(head.AsSpan(12, 4));
        if (length is 0 or > 1 << 20)
        {
            return null;
        }
        var header = new byte[length];
        await stream.ReadExactlyAsync(header, cancellationToken);
        try
        {
            return JsonNode.Parse(header)?["router_type"]?.GetValue<string>();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
    }
}
