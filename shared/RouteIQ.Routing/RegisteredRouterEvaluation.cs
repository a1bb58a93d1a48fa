using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RouteIQ.Artifacts;

namespace RouteIQ.Routing;

/// <summary>Why an evaluation could not run: <see cref="Field"/> names the request field, <see cref="Status"/> the HTTP status.</summary>
public sealed class EvaluationException(int status, string field, string problem) : Exception($"{field}: {problem}")
{
    public int Status { get; } = status;

    public string Field { get; } = field;

    public string Problem { get; } = problem;
}

/// <summary>
/// Off-policy evaluation of a registered router version on a built dataset, both read through the
/// artifact store: the version's manifest is verified the way serving verifies it (signature with
/// the configured key, then every file's hash) before the router is loaded, and the result is
/// stored next to the version as <c>registry/{model}/{version}/evaluations/{id}.json</c>.
/// </summary>
public static class RegisteredRouterEvaluation
{
    public static readonly string[] Splits = ["test", "train"];

    public static string Folder(string model, int version) => ArtifactKeys.RegistryVersion(model, version) + "evaluations/";

    public static async Task<JsonObject> RunAsync(IArtifactStore store, IManifestSigner? verifier, string model, int version, string dataset, string split,
        string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (!Splits.Contains(split))
        {
            throw new EvaluationException(400, "split", $"must be one of {string.Join(", ", Splits)}, got '{split}'");
        }
        string datasetKey;
        try
        {
            datasetKey = ArtifactKeys.Dataset(dataset) + $"routing_{split}.jsonl";
        }
        catch (ArgumentException ex)
        {
            throw new EvaluationException(400, "dataset", ex.Message);
        }
        if (!await store.ExistsAsync(datasetKey, cancellationToken))
        {
            throw new EvaluationException(404, "dataset", $"dataset '{dataset}' has no {split} split (routing_{split}.jsonl)");
        }
        var directory = Path.Combine(Path.GetTempPath(), "routeiq-evaluations", Guid.NewGuid().ToString("N"));
        try
        {
            using var router = await LoadVerifiedAsync(store, verifier, model, version, directory, cancellationToken);
            List<LoggedObservation> logged;
            await using (var stream = await store.OpenReadAsync(datasetKey, cancellationToken))
            using (var reader = new StreamReader(stream, Encoding.UTF8))
            {
                try
                {
                    logged = DatasetLoader.ReadObservations(reader, $"routing_{split}.jsonl");
                }
                catch (RoutingDataException ex)
                {
                    throw new EvaluationException(422, "dataset", ex.Message);
                }
            }
            if (logged.Count == 0)
            {
                throw new EvaluationException(422, "dataset", $"the {split} split holds no logged decisions");
            }
            var result = OffPolicyEvaluator.Evaluate(router, logged, maxDegreeOfParallelism: Math.Min(4, Environment.ProcessorCount));
            var body = ToJson(result);
            body["id"] = id;
            body["model"] = model;
            body["version"] = version;
            body["dataset"] = dataset;
            body["split"] = split;
            body["router_type"] = router.RouterType;
            body["cost_weight"] = router.CostWeight;
            body["graded"] = logged.Count(o => o.IsGraded);
            body["unknown_propensity"] = logged.Count(o => o.Propensity >= 1);
            body["created_at"] = now.ToString("O", CultureInfo.InvariantCulture);
            var bytes = Encoding.UTF8.GetBytes(body.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            await store.PutAsync(Folder(model, version) + id + ".json", new MemoryStream(bytes), cancellationToken);
            return body;
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (DirectoryNotFoundException)
            {
            }
        }
    }

    /// <summary>The stored evaluations of a version, oldest first.</summary>
    public static async Task<JsonArray> ListAsync(IArtifactStore store, string model, int version, CancellationToken cancellationToken)
    {
        var items = new List<JsonObject>();
        await foreach (var entry in store.ListAsync(Folder(model, version), cancellationToken))
        {
            if (!entry.Key.EndsWith(".json", StringComparison.Ordinal))
            {
                continue;
            }
            await using var stream = await store.OpenReadAsync(entry.Key, cancellationToken);
            if (await JsonNode.ParseAsync(stream, cancellationToken: cancellationToken) is JsonObject o)
            {
                items.Add(o);
            }
        }
        return new JsonArray(items.OrderBy(o => o["created_at"]?.GetValue<string>(), StringComparer.Ordinal)
            .ThenBy(o => o["id"]?.GetValue<string>(), StringComparer.Ordinal).Select(o => (JsonNode)o).ToArray());
    }

    public static JsonObject ToJson(OffPolicyResult r) => new()
    {
        ["n"] = r.N,
        ["matched"] = r.Matched,
        ["logging_policy_mean"] = Math.Round(r.LoggingPolicyMean, 6),
        ["ips"] = Estimate(r.Ips),
        ["snips"] = Estimate(r.Snips),
        ["dr"] = Estimate(r.Dr),
        ["unknown_models"] = r.UnknownModels,
        ["avg_price"] = Math.Round(r.AveragePrice, 6),
    };

    private static JsonObject Estimate(PolicyEstimate e) => new()
    {
        ["value"] = Math.Round(e.Value, 6),
        ["ci_low"] = Math.Round(e.CiLow, 6),
        ["ci_high"] = Math.Round(e.CiHigh, 6),
    };

    /// <summary>Verifies the version's manifest (signature, then hashes) and loads its router from a private copy of its files.</summary>
    private static async Task<RouterModel> LoadVerifiedAsync(IArtifactStore store, IManifestSigner? verifier, string model, int version, string directory, CancellationToken cancellationToken)
    {
        var prefix = ArtifactKeys.RegistryVersion(model, version);
        if (!await store.ExistsAsync(prefix + ModelManifest.FileName, cancellationToken))
        {
            throw new EvaluationException(404, "version", $"{model} version {version} has no {ModelManifest.FileName} in the registry");
        }
        ModelManifest manifest;
        try
        {
            await using var stream = await store.OpenReadAsync(prefix + ModelManifest.FileName, cancellationToken);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken);
            manifest = ModelManifest.Parse(buffer.ToArray());
            if (manifest.Version != version.ToString(CultureInfo.InvariantCulture))
            {
                throw new ManifestVerificationException($"manifest says version {manifest.Version}, expected {version}");
            }
            manifest.VerifySignature(verifier);
            Directory.CreateDirectory(directory);
            foreach (var artifact in manifest.Artifacts)
            {
                var path = ArtifactKeys.Normalize(artifact.Path);
                var local = Path.GetFullPath(Path.Combine(directory, path));
                if (!local.StartsWith(Path.GetFullPath(directory) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    throw new ManifestVerificationException($"file {artifact.Path} lies outside the version");
                }
                Directory.CreateDirectory(Path.GetDirectoryName(local)!);
                await using var source = await store.OpenReadAsync(prefix + path, cancellationToken);
                await using var target = File.Create(local);
                await source.CopyToAsync(target, cancellationToken);
            }
            // The local copies are what gets loaded, so their hashes are what is checked.
            await manifest.VerifyFilesAsync((path, ct) => Task.FromResult<Stream>(File.OpenRead(Path.Combine(directory, path))), cancellationToken);
        }
        catch (ManifestVerificationException ex)
        {
            throw new EvaluationException(409, "version", $"{model} version {version} failed verification: {ex.Message}");
        }
        catch (ArtifactNotFoundException ex)
        {
            throw new EvaluationException(409, "version", $"{model} version {version} failed verification: {ex.Message}");
        }
        if (!File.Exists(Path.Combine(directory, RouterModel.FileName)))
        {
            throw new EvaluationException(422, "version", $"{model} version {version} holds no {RouterModel.FileName}: only routeiq/router-trainer routers can be evaluated");
        }
        try
        {
            return RouterModel.Load(directory);
        }
        catch (InvalidModelException ex)
        {
            throw new EvaluationException(422, "version", $"{model} version {version}: {ex.Message}");
        }
    }
}
