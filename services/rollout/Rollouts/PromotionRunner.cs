using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Edge;
using RouteIQ.Rollout.Registry;
using RouteIQ.Rollout.Serving;

namespace RouteIQ.Rollout.Rollouts;

/// <summary>
/// Safe promotion (docs: README "Safe promotion"): the offline gate on the registry's metrics,
/// the shadow phase and the canary steps with their judging, on top of
/// <see cref="RolloutCoordinator"/>'s blue/green switch, which still makes the final move. Each
/// state and step change is persisted (<see cref="RolloutRecord"/>) before it takes effect.
/// A breach, an operator abort or a starved step puts the baseline back alone in one swap (the
/// coordinator then retires the candidate) and publishes <see cref="ModelRolledBack"/>.
/// After a restart of rollout, a rollout found in flight is rolled back (<see cref="RecoverAsync"/>).
/// </summary>
public sealed class PromotionRunner(
    IDbContextFactory<RegistryDbContext> dbFactory,
    StableRouteTable routes,
    IOptions<RolloutOptions> options,
    TimeProvider time,
    ILogger<PromotionRunner> logger)
{
    public const string PriceMetric = "avg_price";

    private readonly ConcurrentDictionary<Guid, Control> _running = new();
    private readonly SemaphoreSlim _createLock = new(1, 1);

    /// <summary>Operator requests to a running rollout.</summary>
    public sealed class Control
    {
        public volatile bool Paused;
        public volatile bool Promote;
        public volatile bool Abort;
    }

    public static bool IsEmpty(Promotion? promotion) => promotion is null || (promotion.Gate is null && promotion.Shadow is null && promotion.Canary is null);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>
    /// Refuses a roll of a model with a rollout in flight (409), and records the rollout of a roll
    /// with a promotion block before the model's lock is taken (so a second one sees it).
    /// </summary>
    public async Task<RolloutRecord?> BeginAsync(RollRequested command, string model, CancellationToken cancellationToken)
    {
        await _createLock.WaitAsync(cancellationToken);
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            var inFlight = await db.Rollouts.AsNoTracking()
                .Where(r => r.ModelName == model && RolloutStates.InFlight.Contains(r.State) && r.Id != command.JobId)
                .Select(r => r.Id).FirstOrDefaultAsync(cancellationToken);
            if (inFlight != Guid.Empty)
            {
                throw new RegistryException(409, $"a rollout of {model} is in progress ({inFlight}); abort it or wait for it to end");
            }
            if (IsEmpty(command.Promotion) || command.IsRollback)
            {
                return null;
            }
            if (command.Promotion!.Problem() is { } invalid)
            {
                throw new RegistryException(400, $"{invalid.Field}: {invalid.Problem}");
            }
            if (await db.Rollouts.FirstOrDefaultAsync(r => r.Id == command.JobId, cancellationToken) is { } existing)
            {
                return existing;
            }
            var now = time.GetUtcNow();
            var record = new RolloutRecord
            {
                Id = command.JobId,
                ModelName = model,
                Strategy = Strategy(command.Promotion!),
                State = RolloutStates.Gating,
                StartedAt = now,
                UpdatedAt = now,
                PromotionJson = JsonSerializer.Serialize(command.Promotion, Json),
                TrainJobId = command.TrainJobId,
                HistoryJson = "[]",
            };
            db.Rollouts.Add(record);
            await db.SaveChangesAsync(cancellationToken);
            return record;
        }
        finally
        {
            _createLock.Release();
        }
    }

    private static string Strategy(Promotion p) => string.Join('+',
        new[] { p.Gate is null ? null : "gate", p.Shadow is null ? null : "shadow", p.Canary is null ? null : "canary" }.Where(s => s is not null));

    public async Task<RolloutRecord?> FindAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Rollouts.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
    }

    /// <summary>The offline gate: candidate vs production metrics from the registry. Throws 422 naming each failed metric with both values.</summary>
    public async Task GateAsync(RolloutRecord record, Promotion promotion, string model, int version, Deployment? active, IPublishEndpoint bus, CancellationToken cancellationToken)
    {
        record.ToVersion = version;
        record.FromVersion = active?.Version;
        await ChangeAsync(record, RolloutStates.Gating, -1, 0, null, null, bus, cancellationToken);
        if (promotion.Gate is not { } gate)
        {
            return;
        }
        if (active is null)
        {
            await NoteAsync(record, "gate passed: first version of the model, nothing to beat", cancellationToken);
            return;
        }
        var candidate = await MetricsAsync(model, version, cancellationToken);
        var production = await MetricsAsync(model, active.Version, cancellationToken);
        var failures = new List<string>();
        if (!candidate.TryGetValue(gate.Metric, out var c))
        {
            failures.Add($"{gate.Metric}: missing from the candidate's metrics.json (v{version})");
        }
        else if (production.TryGetValue(gate.Metric, out var p) && c - p < gate.MinDelta)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"{gate.Metric}: candidate v{version} {c:0.####} − production v{active.Version} {p:0.####} = {c - p:0.####} < min_delta {gate.MinDelta:0.####}"));
        }
        if (gate.MaxPriceRatio is { } maxRatio && candidate.TryGetValue(PriceMetric, out var cp) && production.TryGetValue(PriceMetric, out var pp) && pp > 0
            && cp / pp > maxRatio)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture,
                $"{PriceMetric}: candidate v{version} {cp:0.######} ÷ production v{active.Version} {pp:0.######} = {cp / pp:0.###} > max_price_ratio {maxRatio:0.###}"));
        }
        if (failures.Count > 0)
        {
            var reason = "gate failed: " + string.Join("; ", failures);
            await ChangeAsync(record, RolloutStates.Failed, -1, 0, reason, null, bus, CancellationToken.None);
            throw new RegistryException(422, reason);
        }
        await NoteAsync(record, "gate passed", cancellationToken);
    }

    private async Task<Dictionary<string, double>> MetricsAsync(string model, int version, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var json = await db.Versions.AsNoTracking().Where(v => v.ModelName == model && v.Version == version).Select(v => v.MetricsJson).FirstOrDefaultAsync(cancellationToken);
        return string.IsNullOrEmpty(json) ? [] : JsonSerializer.Deserialize<Dictionary<string, double>>(json) ?? [];
    }

    /// <summary>
    /// Shadow, then the canary steps, with the baseline recorded active behind the endpoint.
    /// Returns when the candidate may be switched in; on a breach, abort or starved step the
    /// baseline is restored alone and a <see cref="RegistryException"/> carries the reason.
    /// </summary>
    public async Task RunTrafficAsync(RolloutRecord record, Promotion promotion, ServerRoute? baseline, int version, string candidateUrl,
        Guid candidateDeploymentId, IPublishEndpoint bus, CancellationToken cancellationToken)
    {
        record.CandidateServerUrl = candidateUrl;
        record.CandidateDeploymentId = candidateDeploymentId;
        if (promotion.Shadow is null && promotion.Canary is null)
        {
            return;
        }
        if (baseline is null)
        {
            await NoteAsync(record, "no production version to compare with: switched without canary", cancellationToken);
            return;
        }
        var control = _running[record.Id] = new Control { Paused = record.Paused };
        try
        {
            double? baselineP99 = null;
            if (promotion.Shadow is { } shadow)
            {
                baselineP99 = await PhaseAsync(record, control, baseline, version, candidateUrl, RolloutStates.Shadow, -1, 0, shadow: true,
                    promotion.Canary, shadow.Seconds, shadow.MinRequests, shadow.Seconds * 10, null, baselineP99, bus, cancellationToken);
            }
            if (promotion.Canary is { } canary && !control.Promote)
            {
                Promotion.StickyHeader(canary.Sticky, out var header);
                for (var step = 0; step < canary.Steps.Count && !control.Promote; step++)
                {
                    baselineP99 = await PhaseAsync(record, control, baseline, version, candidateUrl, RolloutStates.Canary, step, canary.Steps[step], shadow: false,
                        canary, canary.StepSeconds, canary.MinRequests, canary.MaxStepSeconds ?? Math.Max(canary.StepSeconds * 10, 10), header, baselineP99, bus, cancellationToken);
                }
            }
        }
        catch (RollbackException ex)
        {
            await RollBackAsync(record, baseline, ex.State, ex.Reason, bus);
            throw new RegistryException(ex.State == RolloutStates.Aborted ? 409 : 422, $"{(ex.State == RolloutStates.Aborted ? "aborted" : "rolled back")}: {ex.Reason}");
        }
        finally
        {
            _running.TryRemove(record.Id, out _);
        }
    }

    private sealed class RollbackException(string state, string reason) : Exception(reason)
    {
        public string State { get; } = state;
        public string Reason { get; } = reason;
    }

    /// <summary>One step (or the shadow phase): set the split, judge it until it passes; returns the baseline's p99 for the next step.</summary>
    private async Task<double?> PhaseAsync(RolloutRecord record, Control control, ServerRoute baseline, int version, string candidateUrl,
        string state, int step, double weight, bool shadow, PromotionCanary? rules, double seconds, int minRequests, double maxSeconds,
        string? stickyHeader, double? baselineP99, IPublishEndpoint bus, CancellationToken cancellationToken)
    {
        var splitId = $"{record.Id:N}-{(shadow ? "shadow" : step.ToString(CultureInfo.InvariantCulture))}";
        var split = new TrafficSplit(splitId, version, candidateUrl, weight, stickyHeader, shadow, options.Value.CandidateTimeoutMilliseconds);
        // Recorded before it takes effect (a restart then knows a split may be live); announced once the endpoint has it.
        await ChangeAsync(record, state, step, weight, null, null, null, cancellationToken);
        await routes.SetAsync(new ServerRoute(baseline.Model, baseline.Version, baseline.ServerUrl) { Split = split }, makeDefault: false, cancellationToken);
        await PublishStepAsync(record, bus);
        logger.LogInformation("Rollout {RolloutId}: {Model} v{Version} {State} step {Step} at {Weight}% (baseline v{Baseline})",
            record.Id, baseline.Model, version, state, step, weight, baseline.Version);

        var started = time.GetTimestamp();
        var lastSaved = started;
        var interval = TimeSpan.FromMilliseconds(options.Value.JudgeIntervalMilliseconds);
        while (true)
        {
            await Task.Delay(interval, time, cancellationToken);
            if (control.Abort)
            {
                throw new RollbackException(RolloutStates.Aborted, "aborted by operator");
            }
            var stats = routes.SplitStats(baseline.Model);
            if (stats is not null && time.GetElapsedTime(lastSaved) >= TimeSpan.FromSeconds(1))
            {
                lastSaved = time.GetTimestamp();
                await SaveStatsAsync(record, stats, cancellationToken);
            }
            if (control.Promote)
            {
                return baselineP99;
            }
            var requests = stats?.Candidate.Requests ?? 0;
            if (stats is not null && stats.Baseline.Requests >= 10)
            {
                baselineP99 = stats.Baseline.LatencyP99Ms;
            }
            if (stats is not null && rules is not null && requests >= Math.Max(1, minRequests) && Breach(stats, rules, baselineP99) is { } breach)
            {
                await SaveStatsAsync(record, stats, cancellationToken);
                throw new RollbackException(RolloutStates.RolledBack, breach);
            }
            var elapsed = time.GetElapsedTime(started).TotalSeconds;
            if (control.Paused)
            {
                continue;
            }
            if (requests >= minRequests && elapsed >= seconds)
            {
                if (stats is not null)
                {
                    await SaveStatsAsync(record, stats, cancellationToken);
                }
                return baselineP99;
            }
            if (elapsed >= maxSeconds)
            {
                throw new RollbackException(RolloutStates.Aborted, string.Create(CultureInfo.InvariantCulture,
                    $"too few requests: {requests} candidate requests < min_requests {minRequests} after {elapsed:0.#} s of {state} step {step}"));
            }
        }
    }

    /// <summary>The first rule the candidate breaks over this window, or null.</summary>
    internal string? Breach(SplitStatsReport stats, PromotionCanary rules, double? baselineP99)
    {
        var c = stats.Candidate;
        if (c.ErrorRate > rules.MaxErrorRate)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"error_rate {c.ErrorRate:0.####} > max_error_rate {rules.MaxErrorRate:0.####} ({c.Errors} of {c.Requests} candidate requests failed)");
        }
        if (baselineP99 is { } b)
        {
            var floor = options.Value.LatencyFloorMilliseconds;
            var ratio = Math.Max(c.LatencyP99Ms, floor) / Math.Max(b, floor);
            if (ratio > rules.MaxLatencyP99Ratio)
            {
                return string.Create(CultureInfo.InvariantCulture,
                    $"latency_p99 ratio {ratio:0.##} > max_latency_p99_ratio {rules.MaxLatencyP99Ratio:0.##} (candidate p99 {c.LatencyP99Ms:0.###} ms, baseline p99 {b:0.###} ms)");
            }
        }
        return null;
    }

    private async Task RollBackAsync(RolloutRecord record, ServerRoute baseline, string state, string reason, IPublishEndpoint bus)
    {
        try
        {
            await routes.SetAsync(new ServerRoute(baseline.Model, baseline.Version, baseline.ServerUrl), makeDefault: false, CancellationToken.None);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException)
        {
            // The table here has the baseline alone; a restarted edge process is given it whole.
            logger.LogError("The stable endpoint did not confirm the rollback of {Model}: {Error}", baseline.Model, ex.Message);
        }
        logger.LogWarning("Rollout {RolloutId}: {Model} v{Version} {State}: {Reason}", record.Id, record.ModelName, record.ToVersion, state, reason);
        var step = record.Step;
        await ChangeAsync(record, state, step, 0, reason, null, bus, CancellationToken.None);
        await bus.Publish(new ModelRolledBack
        {
            RolloutId = record.Id,
            ModelName = record.ModelName,
            FromVersion = record.FromVersion,
            ToVersion = record.ToVersion,
            Reason = reason,
            State = state,
            Step = step,
            RolledBackAt = time.GetUtcNow(),
        }, CancellationToken.None);
    }

    /// <summary>The candidate became production (after the coordinator's switch).</summary>
    public Task PromotedAsync(RolloutRecord record, IPublishEndpoint bus)
        => ChangeAsync(record, RolloutStates.Promoted, record.Step, 100, null, null, bus, CancellationToken.None);

    /// <summary>A roll that failed for another reason than the promotion's rules (candidate unhealthy, publish error): its rollout ends <c>failed</c>.</summary>
    public async Task FailIfInFlightAsync(Guid id, string reason, IPublishEndpoint bus)
    {
        if (await FindAsync(id, CancellationToken.None) is { } record && !RolloutStates.IsTerminal(record.State))
        {
            await ChangeAsync(record, RolloutStates.Failed, record.Step, 0, reason, null, bus, CancellationToken.None);
        }
    }

    /// <summary>
    /// At start, before rolls run: a rollout that was in flight when rollout stopped is rolled back.
    /// The restored route table holds only the recorded deployments (no split), and the
    /// candidate's server is an orphan the reconciler removes, so no split is ever left with
    /// nobody judging it. Returns them so their outcomes can be published.
    /// </summary>
    public async Task<IReadOnlyList<RolloutRecord>> RecoverAsync(IPublishEndpoint? bus, CancellationToken cancellationToken)
    {
        List<RolloutRecord> inFlight;
        await using (var db = await dbFactory.CreateDbContextAsync(cancellationToken))
        {
            inFlight = await db.Rollouts.AsNoTracking().Where(r => RolloutStates.InFlight.Contains(r.State)).ToListAsync(cancellationToken);
        }
        foreach (var record in inFlight)
        {
            var reason = $"the rollout service restarted during {record.State}{(record.Step >= 0 ? $" step {record.Step}" : "")}; the candidate was rolled back";
            logger.LogWarning("Rollout {RolloutId} of {Model}: {Reason}", record.Id, record.ModelName, reason);
            var step = record.Step;
            await ChangeAsync(record, RolloutStates.RolledBack, step, 0, reason, null, bus, cancellationToken);
            if (bus is not null)
            {
                await bus.Publish(new ModelRolledBack
                {
                    RolloutId = record.Id, ModelName = record.ModelName, FromVersion = record.FromVersion, ToVersion = record.ToVersion,
                    Reason = reason, State = RolloutStates.RolledBack, Step = step, RolledBackAt = time.GetUtcNow(),
                }, cancellationToken);
                await bus.Publish(new RollFailed
                {
                    JobId = record.Id, ModelName = record.ModelName, Version = record.ToVersion, Reason = $"rolled back: {reason}",
                    StatusCode = 422, TrainJobId = record.TrainJobId, FailedAt = time.GetUtcNow(),
                }, cancellationToken);
            }
        }
        return inFlight;
    }

    public Control? Running(Guid id) => _running.TryGetValue(id, out var c) ? c : null;

    private async Task NoteAsync(RolloutRecord record, string note, CancellationToken cancellationToken)
    {
        await UpdateAsync(record, r => AppendHistory(r, new JsonObject { ["state"] = r.State, ["note"] = note, ["at"] = time.GetUtcNow() }), cancellationToken);
    }

    private async Task ChangeAsync(RolloutRecord record, string state, int step, double weight, string? reason, JsonObject? stats,
        IPublishEndpoint? bus, CancellationToken cancellationToken)
    {
        await UpdateAsync(record, r =>
        {
            r.State = state;
            r.Step = step;
            r.Weight = weight;
            if (reason is not null)
            {
                r.Reason = reason;
            }
            var entry = new JsonObject { ["state"] = state, ["step"] = step, ["weight"] = weight, ["at"] = time.GetUtcNow() };
            if (reason is not null)
            {
                entry["reason"] = reason;
            }
            if ((stats ?? (r.StatsJson is { } s ? JsonNode.Parse(s) : null)) is JsonNode last && state != RolloutStates.Gating)
            {
                entry["stats"] = last.DeepClone();
            }
            AppendHistory(r, entry);
        }, cancellationToken);
        if (bus is not null)
        {
            await PublishStepAsync(record, bus);
        }
    }

    private Task PublishStepAsync(RolloutRecord record, IPublishEndpoint bus) => bus.Publish(new RolloutStepChanged
    {
        RolloutId = record.Id, ModelName = record.ModelName, FromVersion = record.FromVersion, ToVersion = record.ToVersion,
        State = record.State, Step = record.Step, Weight = record.Weight, ChangedAt = time.GetUtcNow(),
    }, CancellationToken.None);

    private static void AppendHistory(RolloutRecord r, JsonObject entry)
    {
        var history = (r.HistoryJson is { } h ? JsonNode.Parse(h) as JsonArray : null) ?? [];
        history.Add(entry);
        r.HistoryJson = history.ToJsonString();
    }

    private Task SaveStatsAsync(RolloutRecord record, SplitStatsReport stats, CancellationToken cancellationToken)
        => UpdateAsync(record, r => r.StatsJson = StatsDocument(stats).ToJsonString(), cancellationToken);

    internal static JsonObject StatsDocument(SplitStatsReport stats)
    {
        var candidate = Version(stats.Candidate);
        if (stats.Shadow is { } shadow)
        {
            candidate["agreement"] = Math.Round(shadow.Agreement, 4);
            candidate["avg_price"] = shadow.AvgPrice;
            candidate["shadow_compared"] = shadow.Compared;
            candidate["shadow_dropped"] = shadow.Dropped;
        }
        return new JsonObject { ["window"] = stats.SplitId, ["weight"] = stats.Weight, ["baseline"] = Version(stats.Baseline), ["candidate"] = candidate };

        static JsonObject Version(VersionStatsSnapshot v) => new()
        {
            ["version"] = v.Version,
            ["requests"] = v.Requests,
            ["errors"] = v.Errors,
            ["error_rate"] = Math.Round(v.ErrorRate, 6),
            ["latency_p50_ms"] = v.LatencyP50Ms,
            ["latency_p99_ms"] = v.LatencyP99Ms,
            ["retried_on_baseline"] = v.Retries,
        };
    }

    /// <summary>Applies <paramref name="change"/> to the row and to <paramref name="record"/> (the caller's copy).</summary>
    private async Task UpdateAsync(RolloutRecord record, Action<RolloutRecord> change, CancellationToken cancellationToken)
    {
        change(record);
        // While a rollout runs, its control holds the operator's pause: the running step's copy of the record
        // must not write back the flag it had when the step began.
        if (_running.TryGetValue(record.Id, out var control))
        {
            record.Paused = control.Paused;
        }
        record.UpdatedAt = time.GetUtcNow();
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.Rollouts.FirstOrDefaultAsync(r => r.Id == record.Id, cancellationToken);
        if (row is null)
        {
            return;
        }
        db.Entry(row).CurrentValues.SetValues(record);
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>Pause, resume, promote or abort a running rollout. Returns (status, error).</summary>
    public async Task<(int Status, string? Error)> ControlAsync(Guid id, string action, CancellationToken cancellationToken)
    {
        var record = await FindAsync(id, cancellationToken);
        if (record is null)
        {
            return (404, "rollout not found");
        }
        var control = Running(id);
        if (control is null)
        {
            return (409, $"rollout is {record.State}{(RolloutStates.IsTerminal(record.State) ? "" : " and not in a traffic step yet")}");
        }
        switch (action)
        {
            case "pause":
                control.Paused = true;
                break;
            case "resume":
                control.Paused = false;
                break;
            case "promote":
                control.Promote = true;
                break;
            case "abort":
                control.Abort = true;
                break;
            default:
                return (400, $"unknown action '{action}': pause, resume, promote or abort");
        }
        if (action is "pause" or "resume")
        {
            await UpdateAsync(record, r => r.Paused = action == "pause", cancellationToken);
        }
        return (200, null);
    }

    /// <summary>The document of <c>GET /admin/rollouts/{id}</c>.</summary>
    public static JsonObject Document(RolloutRecord r) => new()
    {
        ["rollout_id"] = r.Id,
        ["model"] = r.ModelName,
        ["from_version"] = r.FromVersion,
        ["to_version"] = r.ToVersion,
        ["strategy"] = r.Strategy,
        ["state"] = r.State,
        ["step"] = r.Step,
        ["weight"] = r.Weight,
        ["paused"] = r.Paused,
        ["started_at"] = r.StartedAt,
        ["updated_at"] = r.UpdatedAt,
        ["reason"] = r.Reason,
        ["promotion"] = JsonNode.Parse(r.PromotionJson),
        ["stats"] = r.StatsJson is { } s ? JsonNode.Parse(s) : new JsonObject { ["baseline"] = null, ["candidate"] = null },
        ["history"] = r.HistoryJson is { } h ? JsonNode.Parse(h) : new JsonArray(),
        ["train_job_id"] = r.TrainJobId,
    };
}
