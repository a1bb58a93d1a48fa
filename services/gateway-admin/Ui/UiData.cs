using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.GatewayAdmin.Ledger;

namespace RouteIQ.GatewayAdmin.Ui;

public sealed record JobCounts(int Running, int Queued, int Lost, int Succeeded24h, int Failed24h, int Cancelled24h, int Total);

public sealed record RunnerRow(string Node, int Running, DateTimeOffset? LastHeartbeat, int? Slots, int? Gpus, string? Launcher, bool? Draining);

public sealed record HealthRow(string Name, string Status, string? Description);

/// <summary>One registered version as the ledger knows it (the train job that produced it).</summary>
public sealed record VersionRow(string Model, int Version, Guid JobId, string? Trainer, DateTimeOffset? FinishedAt, IReadOnlyDictionary<string, double> Metrics)
{
    public double? Quality => Metric("avg_quality", "quality");
    public double? Price => Metric("avg_price", "price");

    private double? Metric(params string[] names)
    {
        foreach (var name in names)
        {
            if (Metrics.TryGetValue(name, out var v))
            {
                return v;
            }
        }
        return null;
    }
}

public sealed record ModelRow(string Name, int Versions, int? LatestVersion, int? ProductionVersion, DateTimeOffset? DeployedAt, bool? Healthy);

/// <summary>One point of a version's quality–price curve (<c>metrics.json</c> <c>curve</c>).</summary>
public sealed record CurvePoint(double CostWeight, double Quality, double Price, double? PriceRatio, double? QualityRatio);

public sealed record VersionFiles(int Version, string? SignatureType, bool Signed, int Artifacts, string? CreatedAt,
    IReadOnlyList<CurvePoint> Curve, CurvePoint? Chosen, double? BestSingleQuality, double? BestSinglePrice, string? BestSingleModel);

/// <summary>What the pages read: the ledger (aggregates, never a scan per row), the registry's files and rollout's answers.</summary>
public sealed class UiData(IDbContextFactory<LedgerDbContext> contexts, JobLedger ledger, InProcessApi api, IArtifactStore store,
    IRequestClient<GetDeploymentHistory> history, IRequestClient<GetActiveDeployment> active, HealthCheckService health, TimeProvider time)
{
    public JobLedger Ledger => ledger;
    public InProcessApi Api => api;

    public async Task<JobCounts> JobCountsAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var since = time.GetUtcNow().AddHours(-24);
        // Two grouped counts over the (state, created_at) index.
        var open = await db.Jobs.AsNoTracking().Where(j => j.State == JobStates.Running || j.State == JobStates.Queued || j.State == JobStates.Lost)
            .GroupBy(j => j.State).Select(g => new { g.Key, Count = g.Count() }).ToListAsync(cancellationToken);
        var recent = new Dictionary<string, int>();
        foreach (var state in new[] { JobStates.Succeeded, JobStates.Failed, JobStates.Cancelled })
        {
            recent[state] = await db.Jobs.AsNoTracking().CountAsync(j => j.State == state && j.CreatedAt >= since, cancellationToken);
        }
        var total = await db.Jobs.AsNoTracking().CountAsync(cancellationToken);
        int Open(string s) => open.FirstOrDefault(o => o.Key == s)?.Count ?? 0;
        return new JobCounts(Open(JobStates.Running), Open(JobStates.Queued), Open(JobStates.Lost),
            recent[JobStates.Succeeded], recent[JobStates.Failed], recent[JobStates.Cancelled], total);
    }

    /// <summary>Nodes with running jobs (from the ledger), joined with this host's runner status when it runs one.</summary>
    public async Task<List<RunnerRow>> RunnersAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var nodes = await db.Jobs.AsNoTracking().Where(j => j.State == JobStates.Running && j.Node != null)
            .GroupBy(j => j.Node!).Select(g => new { Node = g.Key, Count = g.Count() }).ToListAsync(cancellationToken);
        var rows = nodes.ToDictionary(n => n.Node, n => new RunnerRow(n.Node, n.Count, null, null, null, null, null), StringComparer.Ordinal);
        var local = await api.GetAsync("/runner/status", cancellationToken: cancellationToken);
        if (local.Ok && local.Body is JsonObject status && status["node"]?.GetValue<string>() is { } node)
        {
            var running = (status["running"] as JsonArray)?.Count ?? 0;
            rows[node] = new RunnerRow(node, running, time.GetUtcNow(), status["slots"]?.GetValue<int>(), status["gpus"]?.GetValue<int>(),
                status["launcher"]?.ToString(), status["draining"]?.GetValue<bool>());
        }
        return rows.Values.OrderBy(r => r.Node, StringComparer.Ordinal).ToList();
    }

    public async Task<List<HealthRow>> HealthAsync(CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(5));
        var report = await health.CheckHealthAsync(r => !r.Tags.Contains("live"), cts.Token);
        return report.Entries.Select(e => new HealthRow(e.Key, e.Value.Status.ToString(), e.Value.Description ?? e.Value.Exception?.Message))
            .OrderBy(h => h.Name, StringComparer.Ordinal).ToList();
    }

    public async Task<List<DeploymentInfo>?> DeploymentsAsync(string? model, int limit, CancellationToken cancellationToken)
    {
        try
        {
            var response = await history.GetResponse<DeploymentHistory>(new GetDeploymentHistory { ModelName = model, Limit = limit }, cancellationToken, RequestTimeout.After(s: 5));
            return response.Message.Deployments.ToList();
        }
        catch (RequestTimeoutException)
        {
            return null;
        }
    }

    public async Task<DeploymentInfo?> ActiveAsync(string model, CancellationToken cancellationToken)
    {
        try
        {
            return (await active.GetResponse<ActiveDeployment>(new GetActiveDeployment { ModelName = model }, cancellationToken, RequestTimeout.After(s: 5))).Message.Deployment;
        }
        catch (RequestTimeoutException)
        {
            return null;
        }
    }

    /// <summary>Registered versions (newest first per model), from the ledger's versions aggregate (<see cref="ModelVersionSummary"/>).</summary>
    public async Task<List<VersionRow>> VersionsAsync(string? model, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.ModelVersions.AsNoTracking();
        if (model is not null)
        {
            query = query.Where(v => v.ModelName == model);
        }
        var rows = await query.OrderBy(v => v.ModelName).ThenByDescending(v => v.Version).Take(limit).ToListAsync(cancellationToken);
        return rows.Select(r => new VersionRow(r.ModelName, r.Version, r.JobId, r.Trainer, r.FinishedAt, Numbers(LedgerJson.Parse(r.MetricsJson)))).ToList();
    }

    /// <summary>Each model's version count and latest version (one grouped read of the aggregate) with its production version.</summary>
    public async Task<List<ModelRow>> ModelsAsync(CancellationToken cancellationToken)
    {
        var deployments = DeploymentsAsync(null, 500, cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var versions = await db.ModelVersions.AsNoTracking().GroupBy(v => v.ModelName)
            .Select(g => new { Name = g.Key, Count = g.Count(), Latest = g.Max(v => v.Version) }).ToListAsync(cancellationToken);
        var live = await deployments ?? [];
        var names = versions.Select(v => v.Name).Concat(live.Select(d => d.ModelName)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
        return names.Select(name =>
        {
            var mine = versions.FirstOrDefault(v => v.Name == name);
            var active = live.FirstOrDefault(d => d.ModelName == name && d.Active);
            return new ModelRow(name, mine?.Count ?? 0, mine?.Latest, active?.Version, active?.DeployedAt, active?.Healthy);
        }).ToList();
    }

    /// <summary>The document of <c>GET /admin/rollouts/{id}</c> (rollout answers over the bus).</summary>
    public Task<ApiAnswer> RolloutAsync(Guid id, CancellationToken cancellationToken)
        => api.SendAsync("GET", "/admin/rollouts/{id}", new Dictionary<string, string> { ["id"] = id.ToString() }, cancellationToken: cancellationToken);

    private static Dictionary<string, double> Numbers(JsonObject? metrics)
    {
        var numbers = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (key, value) in metrics ?? [])
        {
            if (value is JsonValue jv && jv.TryGetValue<double>(out var d))
            {
                numbers[key] = d;
            }
        }
        return numbers;
    }

    /// <summary>A version's <c>manifest.json</c> (signature) and <c>metrics.json</c> (curve) from the registry.</summary>
    public async Task<VersionFiles> VersionFilesAsync(string model, int version, CancellationToken cancellationToken)
    {
        var prefix = ArtifactKeys.RegistryVersion(model, version);
        string? signatureType = null;
        var signed = false;
        var artifacts = 0;
        string? created = null;
        if (await ReadAsync(prefix + ModelManifest.FileName, cancellationToken) is { } manifestBytes)
        {
            try
            {
                var manifest = ModelManifest.Parse(manifestBytes);
                signatureType = manifest.SignatureType;
                signed = !string.IsNullOrEmpty(manifest.Signature) && manifest.SignatureType != ManifestSignatureTypes.None;
                artifacts = manifest.Artifacts.Count;
                created = manifest.CreatedAt;
            }
            catch (Exception ex) when (ex is JsonException or ManifestVerificationException or FormatException or InvalidOperationException)
            {
                signatureType = "unreadable";
            }
        }
        var curve = new List<CurvePoint>();
        CurvePoint? chosen = null;
        double? bestQuality = null, bestPrice = null;
        string? bestName = null;
        if (await ReadAsync(prefix + "metrics.json", cancellationToken) is { } metricsBytes)
        {
            try
            {
                var metrics = JsonNode.Parse(metricsBytes) as JsonObject;
                // The router trainer writes operating_curve, operating_point and best_single; "curve"/"chosen" are accepted too.
                foreach (var point in (metrics?["operating_curve"] as JsonArray ?? metrics?["curve"] as JsonArray ?? []).OfType<JsonObject>())
                {
                    if (Point(point) is { } p)
                    {
                        curve.Add(p);
                    }
                }
                chosen = (metrics?["operating_point"] ?? metrics?["chosen"]) is JsonObject c ? Point(c) : null;
                if (metrics?["best_single"] is JsonObject best)
                {
                    bestQuality = Number(best["quality"]);
                    bestPrice = Number(best["price"]);
                    bestName = best["model"]?.ToString();
                }
                else if (curve.FirstOrDefault(p => p.PriceRatio > 0 && p.QualityRatio > 0) is { } r)
                {
                    // Both ratios are against the best single model: its point follows from any curve point.
                    bestQuality = r.Quality / r.QualityRatio;
                    bestPrice = r.Price / r.PriceRatio;
                }
            }
            catch (JsonException)
            {
                // A metrics.json the dashboard cannot read draws no curve.
            }
        }
        return new VersionFiles(version, signatureType, signed, artifacts, created, curve.OrderBy(p => p.Price).ToList(), chosen, bestQuality, bestPrice, bestName);
    }

    private static CurvePoint? Point(JsonObject o)
        => Number(o["quality"]) is { } q && Number(o["price"]) is { } p
            ? new CurvePoint(Number(o["cost_weight"]) ?? 0, q, p, Number(o["price_ratio"]), Number(o["quality_ratio"]))
            : null;

    /// <summary>A JSON number as a double (null for anything else).</summary>
    internal static double? Number(JsonNode? node) => node is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;

    private async Task<byte[]?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            if (!await store.ExistsAsync(key, cancellationToken))
            {
                return null;
            }
            await using var stream = await store.OpenReadAsync(key, cancellationToken);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken);
            return buffer.ToArray();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
    }
}
