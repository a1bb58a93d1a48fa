using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RouteIQ.Contracts;
using RouteIQ.GatewayAdmin.Api;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.GatewayAdmin.Specs;

namespace RouteIQ.GatewayAdmin.Continuous;

/// <summary>The clock continuous training reads (tests put a <c>FakeTimeProvider</c> here instead of waiting for cron ticks).</summary>
public sealed class ContinuousClock(TimeProvider time)
{
    public TimeProvider Time => time;

    public DateTimeOffset Now => time.GetUtcNow();
}

/// <summary>
/// Evaluates the <c>continuous</c> policies of the trainer specs and starts runs. A run is claimed
/// by one optimistic-concurrency update of the trainer's <see cref="ContinuousTrainerState"/> row
/// that also inserts the <see cref="ContinuousRun"/>: of replicas evaluating at once only one
/// commits, and cooldown, <c>max_running</c> and pause are read from that same row and the runs
/// table, so they hold across replicas and restarts. The winner builds the dataset (telemetry-ingest,
/// <see cref="BuildDataset"/> — the builder <c>POST /admin/datasets</c> uses) and creates an ordinary
/// train job (rolled out on success with <c>promote: true</c>) whose request records the trigger.
/// </summary>
public sealed partial class ContinuousEngine(
    IDbContextFactory<LedgerDbContext> contexts,
    TrainerSpecStore specs,
    JobLedger ledger,
    IClientFactory clients,
    IBus bus,
    ContinuousClock clock,
    GatewayAdminInstance instance,
    IConfiguration configuration,
    IOptions<ContinuousOptions> options,
    ILogger<ContinuousEngine> logger)
{
    private static readonly TimeSpan StatisticsTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs this replica started and has not finished starting (dataset build + job creation).</summary>
    private readonly List<Task> _inFlight = [];

    public sealed record Claim(ContinuousRun Run, ContinuousSpec Spec, DateTimeOffset WindowEnd);

    private static IEnumerable<TrainerSpec> Policies(TrainerSpecStore store)
        => store.Current.Trainers.Values.Where(s => s.Continuous is not null).OrderBy(s => s.Name, StringComparer.Ordinal);

    /// <summary>One evaluation of every policy; returns the runs this replica claimed (their start goes on in the background).</summary>
    public async Task<IReadOnlyList<ContinuousRun>> EvaluateAllAsync(CancellationToken cancellationToken)
    {
        var claimed = new List<ContinuousRun>();
        foreach (var spec in Policies(specs))
        {
            try
            {
                if (await EvaluateAsync(spec, cancellationToken) is { } claim)
                {
                    claimed.Add(claim.Run);
                    Track(StartRunAsync(spec.Name, claim, CancellationToken.None));
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogEvaluationFailed(logger, ex, spec.Name);
            }
        }
        return claimed;
    }

    /// <summary>Waits for the runs this replica is starting (tests; shutdown).</summary>
    public Task DrainAsync()
    {
        lock (_inFlight)
        {
            return Task.WhenAll(_inFlight.ToArray());
        }
    }

    private void Track(Task task)
    {
        lock (_inFlight)
        {
            _inFlight.RemoveAll(t => t.IsCompleted);
            _inFlight.Add(task);
        }
    }

    private async Task<Claim?> EvaluateAsync(TrainerSpec trainer, CancellationToken cancellationToken)
    {
        var spec = trainer.Continuous!;
        if (!spec.Enabled)
        {
            return null;
        }
        var now = clock.Now;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var state = await LoadStateAsync(db, trainer.Name, now, cancellationToken);
        if (state.Paused || InCooldown(state, spec, now) || await ActiveRunsAsync(db, trainer.Name, now, cancellationToken) >= spec.MaxRunning)
        {
            return null;
        }
        var (trigger, details) = await DecideAsync(trainer, state, now, cancellationToken);
        if (trigger is null)
        {
            return null;
        }
        return await ClaimAsync(db, state, spec, trigger, details!, now, cancellationToken);
    }

    private static bool InCooldown(ContinuousTrainerState state, ContinuousSpec spec, DateTimeOffset now)
        => state.LastFiredAt is { } last && now < last.AddSeconds(spec.CooldownSeconds);

    private static async Task<ContinuousTrainerState> LoadStateAsync(LedgerDbContext db, string trainer, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (await db.ContinuousTrainers.SingleOrDefaultAsync(s => s.Trainer == trainer, cancellationToken) is { } state)
        {
            return state;
        }
        state = new ContinuousTrainerState { Trainer = trainer, CreatedAt = now, ScheduleFrom = now, UpdatedAt = now };
        db.ContinuousTrainers.Add(state);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return state;
        }
        catch (DbUpdateException)
        {
            // Another replica created it first: use theirs.
            db.ChangeTracker.Clear();
            return await db.ContinuousTrainers.SingleAsync(s => s.Trainer == trainer, cancellationToken);
        }
    }

    /// <summary>Runs still building (within the build timeout) or whose job has not ended.</summary>
    private async Task<int> ActiveRunsAsync(LedgerDbContext db, string trainer, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var runs = await db.ContinuousRuns.AsNoTracking()
            .Where(r => r.Trainer == trainer && (r.State == RunStates.Building || r.State == RunStates.Started))
            .OrderByDescending(r => r.ClaimedAt).Take(200)
            .Select(r => new { r.State, r.ClaimedAt, r.JobId })
            .ToListAsync(cancellationToken);
        var buildLimit = now.AddSeconds(-options.Value.BuildTimeoutSeconds);
        var building = runs.Count(r => r.State == RunStates.Building && r.ClaimedAt > buildLimit);
        var jobIds = runs.Where(r => r.JobId is not null).Select(r => r.JobId!.Value).ToList();
        var running = jobIds.Count == 0 ? 0 : await db.Jobs.AsNoTracking()
            .CountAsync(j => jobIds.Contains(j.Id) && j.State != JobStates.Succeeded && j.State != JobStates.Failed && j.State != JobStates.Cancelled, cancellationToken);
        return building + running;
    }

    private async Task<(string? Trigger, JsonObject? Details)> DecideAsync(TrainerSpec trainer, ContinuousTrainerState state, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var spec = trainer.Continuous!;
        if (spec.Cron is { } cron && cron.GetNextOccurrence(state.ScheduleFrom.UtcDateTime, TimeZoneInfo.Utc) is { } due && due <= now.UtcDateTime)
        {
            var missed = cron.GetOccurrences(state.ScheduleFrom.UtcDateTime, now.UtcDateTime, TimeZoneInfo.Utc, fromInclusive: false, toInclusive: true).Take(100_000).Count();
            return (Triggers.Schedule, new JsonObject
            {
                ["schedule"] = spec.Schedule,
                ["scheduled_for"] = new DateTimeOffset(due, TimeSpan.Zero),
                ["occurrences_since_last"] = missed,
            });
        }
        if (spec.NewDecisions is null && spec.NewFeedback is null && spec.Drift is null && spec.QualityDrop is null)
        {
            return (null, null);
        }
        var stats = await StatisticsAsync(trainer, state, cancellationToken);
        if (stats is null)
        {
            return (null, null);
        }
        var (s, baseline) = stats.Value;
        if (spec.Drift is { } drift && s.Drifted)
        {
            return (Triggers.Drift, new JsonObject
            {
                ["max_psi"] = s.MaxPsi,
                ["threshold"] = drift.Psi,
                ["psi"] = new JsonObject(s.Psi.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
                ["current_samples"] = s.CurrentSamples,
                ["baseline_samples"] = s.BaselineSamples,
                ["min_samples"] = drift.MinSamples,
                ["baseline_dataset"] = baseline?.DatasetId,
                ["production_version"] = baseline?.Version,
                ["baseline_window"] = new JsonObject { ["since"] = s.BaselineSince, ["until"] = s.BaselineUntil },
                ["current_since"] = s.CurrentSince,
            });
        }
        if (spec.QualityDrop is { } quality && s.GradedSamples >= quality.MinSamples && s.CurrentQuality is { } after
            && (baseline?.RegistryValue ?? s.BaselineQuality) is { } reference && reference - after >= quality.Delta)
        {
            return (Triggers.QualityDrop, new JsonObject
            {
                ["reference"] = baseline?.RegistryValue is not null ? $"registry:{baseline.Metric}" : "baseline_grades",
                ["reference_quality"] = reference,
                ["current_quality"] = after,
                ["drop"] = Math.Round(reference - after, 6),
                ["delta"] = quality.Delta,
                ["graded_samples"] = s.GradedSamples,
                ["min_samples"] = quality.MinSamples,
                ["quality_by_model"] = new JsonObject(s.QualityByModel.Select(q => KeyValuePair.Create(q.Key,
                    (JsonNode?)new JsonObject { ["mean"] = q.Value.Mean, ["graded"] = q.Value.Graded }))),
                ["graded_since"] = s.QualitySince,
                ["baseline_quality"] = s.BaselineQuality,
                ["baseline_dataset"] = baseline?.DatasetId,
                ["production_version"] = baseline?.Version,
            });
        }
        var since = state.WindowEnd ?? state.CreatedAt;
        if (spec.NewDecisions is { } decisions && s.NewDecisions >= decisions)
        {
            return (Triggers.NewDecisions, new JsonObject { ["new_decisions"] = s.NewDecisions, ["threshold"] = decisions, ["since"] = since });
        }
        if (spec.NewFeedback is { } feedback && s.NewFeedback is { } grades && grades >= feedback)
        {
            return (Triggers.NewFeedback, new JsonObject { ["new_feedback"] = grades, ["threshold"] = feedback, ["since"] = since });
        }
        return (null, null);
    }

    /// <summary>The production version, the dataset it was trained on, and its <paramref name="Metric"/> as its training recorded it (metrics.json, as the registry holds it).</summary>
    public sealed record Baseline(string ModelName, int Version, string DatasetId, string Metric = QualityMetric, double? RegistryValue = null);

    /// <summary>The metric a quality drop is measured against: the promotion gate's, else this.</summary>
    public const string QualityMetric = "avg_quality";

    /// <summary>Counters since the last window end and, when the policy watches drift or quality, PSI against the production version's dataset window.</summary>
    public async Task<(DecisionStatistics Statistics, Baseline? Baseline)?> StatisticsAsync(TrainerSpec trainer, ContinuousTrainerState state,
        CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        var spec = trainer.Continuous!;
        var baseline = spec.Drift is not null || spec.QualityDrop is not null ? await ProductionBaselineAsync(trainer, timeout, cancellationToken) : null;
        try
        {
            var response = await clients.CreateRequestClient<GetDecisionStatistics>(timeout ?? StatisticsTimeout).GetResponse<DecisionStatistics>(new GetDecisionStatistics
            {
                Since = state.WindowEnd ?? state.CreatedAt,
                BaselineDatasetId = baseline?.DatasetId,
                PsiThreshold = spec.Drift?.Psi,
                MinSamples = spec.Drift?.MinSamples ?? 0,
                QualitySince = spec.QualityDrop is null ? null : state.WindowEnd,
                Trainer = trainer.Name,
                ModelName = baseline?.ModelName,
            }, cancellationToken);
            return (response.Message, baseline);
        }
        catch (RequestTimeoutException)
        {
            LogNoStatistics(logger, trainer.Name);
            return null;
        }
    }

    /// <summary>The production version of the trainer's model and the dataset its training job used (null when nothing is in production or the job is not in this ledger).</summary>
    private async Task<Baseline?> ProductionBaselineAsync(TrainerSpec trainer, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        var model = TrainRequestResolver.Resolve(specs.Current.Trainers, trainer.Name, new TrainBody(), name => configuration[name]).Resolved?.ModelName ?? trainer.Name;
        DeploymentInfo? active;
        try
        {
            active = (await clients.CreateRequestClient<GetActiveDeployment>(timeout ?? TimeSpan.FromSeconds(10))
                .GetResponse<ActiveDeployment>(new GetActiveDeployment { ModelName = model }, cancellationToken)).Message.Deployment;
        }
        catch (RequestTimeoutException)
        {
            return null;
        }
        if (active is null || active.ModelName != model)
        {
            return null;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var jobs = await db.Jobs.AsNoTracking()
            .Where(j => j.Kind == JobKinds.Train && j.ModelName == model && j.State == JobStates.Succeeded)
            .OrderByDescending(j => j.CreatedAt).Take(200)
            .Select(j => new { j.TrainResultJson, j.ResolvedJson })
            .ToListAsync(cancellationToken);
        var metric = trainer.Promotion?.Gate?.Metric ?? QualityMetric;
        foreach (var job in jobs)
        {
            var train = LedgerJson.Parse(job.TrainResultJson);
            if (train?["version"]?.GetValue<int>() == active.Version
                && DatasetIdOf(LedgerJson.Parse(job.ResolvedJson)?["dataset"]?.GetValue<string>()) is { } dataset)
            {
                var value = train["metrics"] is JsonObject metrics && metrics[metric] is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d) ? d : (double?)null;
                return new Baseline(model, active.Version, dataset, metric, value);
            }
        }
        return null;
    }

    /// <summary><c>…/datasets/{id}/</c> → id.</summary>
    public static string? DatasetIdOf(string? uri)
    {
        if (string.IsNullOrEmpty(uri))
        {
            return null;
        }
        var at = uri.LastIndexOf("datasets/", StringComparison.Ordinal);
        if (at < 0)
        {
            return Artifacts.Identifiers.Problem(uri, "dataset") is null ? uri : null;
        }
        var id = uri[(at + "datasets/".Length)..].TrimEnd('/');
        return id.Length > 0 && !id.Contains('/', StringComparison.Ordinal) ? id : null;
    }

    private async Task<Claim?> ClaimAsync(LedgerDbContext db, ContinuousTrainerState state, ContinuousSpec spec, string trigger, JsonObject details,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var run = new ContinuousRun
        {
            Id = NewId.NextSequentialGuid(),
            Trainer = state.Trainer,
            Trigger = trigger,
            DetailsJson = details.ToJsonString(LedgerJson.Api),
            State = RunStates.Building,
            ClaimedAt = now,
            UpdatedAt = now,
            Instance = instance.Id,
        };
        run.DatasetId = DatasetIdFor(state.Trainer, now, run.Id);
        state.LastFiredAt = now;
        state.LastTrigger = trigger;
        state.LastRunId = run.Id;
        state.WindowEnd = now;
        if (trigger == Triggers.Schedule)
        {
            state.ScheduleFrom = now;
        }
        state.UpdatedAt = now;
        state.Revision++;
        db.ContinuousRuns.Add(run);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            LogClaimLost(logger, state.Trainer, trigger);
            return null;
        }
        LogFired(logger, state.Trainer, trigger, details.ToJsonString());
        if (trigger == Triggers.Drift)
        {
            await PublishDriftAsync(state.Trainer, details, now, cancellationToken);
        }
        return new Claim(run, spec, now);
    }

    private async Task PublishDriftAsync(string trainer, JsonObject d, DateTimeOffset now, CancellationToken cancellationToken)
    {
        try
        {
            await bus.Publish(new DriftDetected
            {
                Trainer = trainer,
                BaselineDatasetId = d["baseline_dataset"]?.GetValue<string>() ?? "",
                BaselineSince = d["baseline_window"]?["since"]?.GetValue<DateTimeOffset>() ?? default,
                BaselineUntil = d["baseline_window"]?["until"]?.GetValue<DateTimeOffset>() ?? default,
                CurrentSince = d["current_since"]?.GetValue<DateTimeOffset>() ?? default,
                Psi = d["psi"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<double>()),
                MaxPsi = d["max_psi"]!.GetValue<double>(),
                Threshold = d["threshold"]!.GetValue<double>(),
                BaselineSamples = d["baseline_samples"]!.GetValue<long>(),
                CurrentSamples = d["current_samples"]!.GetValue<long>(),
                DetectedAt = now,
            }, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogPublishFailed(logger, ex, trainer);
        }
    }

    /// <summary><c>ct-{trainer}-{yyyyMMddHHmmss}-{6 hex of the run}</c>, within the dataset id rules.</summary>
    public static string DatasetIdFor(string trainer, DateTimeOffset at, Guid runId)
    {
        var name = new string(trainer.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '-').ToArray());
        name = name.Length > 30 ? name[..30] : name;
        return $"ct-{name}-{at.UtcDateTime:yyyyMMddHHmmss}-{runId.ToString("N")[^6..]}";
    }

    /// <summary>Builds the run's dataset and creates its train job. Never throws: a failure is recorded on the run.</summary>
    public async Task<ContinuousRun> StartRunAsync(string trainer, Claim claim, CancellationToken cancellationToken)
    {
        var run = claim.Run;
        try
        {
            var build = JsonNode.Parse(claim.Spec.DatasetOptionsJson)!.AsObject();
            build["until"] = claim.WindowEnd;
            if (claim.Spec.DatasetWindow is { } window)
            {
                build["since"] = claim.WindowEnd - window;
            }
            var response = await clients.CreateRequestClient<BuildDataset>(TimeSpan.FromSeconds(options.Value.BuildTimeoutSeconds))
                .GetResponse<DatasetBuilt, DatasetBuildFailed>(new BuildDataset
                {
                    DatasetId = run.DatasetId!,
                    OptionsJson = build.ToJsonString(LedgerJson.Api),
                    RequestedBy = $"continuous:{trainer}",
                }, cancellationToken);
            if (response.Is(out Response<DatasetBuildFailed>? failed))
            {
                return await FinishAsync(run.Id, RunStates.Failed, null, $"dataset build refused: {failed.Message.Field}: {failed.Message.Reason}", cancellationToken);
            }
            if (!response.Is(out Response<DatasetBuilt>? built))
            {
                return await FinishAsync(run.Id, RunStates.Failed, null, "telemetry-ingest gave no dataset", cancellationToken);
            }
            var dataset = built.Message;

            var (body, _) = RequestBodies.ParseTrain(JsonDocument.Parse(JsonSerializer.Serialize(new { dataset = dataset.DatasetId })).RootElement);
            var (resolved, error) = TrainRequestResolver.Resolve(specs.Current.Trainers, trainer, body!, name => configuration[name]);
            if (error is not null)
            {
                return await FinishAsync(run.Id, RunStates.Failed, null, $"train request refused: {error.Error}", cancellationToken);
            }
            var request = new JsonObject
            {
                ["dataset"] = dataset.DatasetId,
                ["continuous"] = new JsonObject
                {
                    ["run_id"] = run.Id,
                    ["trigger"] = run.Trigger,
                    ["details"] = JsonNode.Parse(run.DetailsJson),
                    ["promote"] = claim.Spec.Promote,
                    ["dataset_records"] = dataset.TotalRecords,
                },
            };
            // The run id as idempotency key: a run started twice (a retry after a crash) makes one job.
            var created = await ledger.CreateTrainJobAsync(resolved!, request, rollOnSuccess: claim.Spec.Promote || resolved!.AutoRoll,
                alias: null, waitReadySeconds: 90, new IdempotencyRequest($"continuous:{run.Id}", run.Id.ToString("N")), cancellationToken);
            return await FinishAsync(run.Id, RunStates.Started, created.Job.Id, null, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogRunFailed(logger, ex, trainer, run.Id);
            return await FinishAsync(run.Id, RunStates.Failed, null, ex is RequestTimeoutException ? "telemetry-ingest did not answer the dataset build in time" : ex.Message, CancellationToken.None);
        }
    }

    private async Task<ContinuousRun> FinishAsync(Guid runId, string state, Guid? jobId, string? error, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var run = await db.ContinuousRuns.SingleAsync(r => r.Id == runId, cancellationToken);
        run.State = state;
        run.JobId = jobId;
        run.Error = error;
        run.UpdatedAt = clock.Now;
        await db.SaveChangesAsync(cancellationToken);
        if (error is not null)
        {
            LogRunNotStarted(logger, run.Trainer, run.Id, error);
        }
        return run;
    }

    public enum ControlOutcome
    {
        Done,
        NoPolicy,
        Busy,
    }

    /// <summary>Pause or resume: one persisted flag every replica reads before firing.</summary>
    public async Task<(ControlOutcome Outcome, ContinuousTrainerState? State)> SetPausedAsync(string trainer, bool paused, CancellationToken cancellationToken)
    {
        if (!specs.Current.Trainers.TryGetValue(trainer, out var spec) || spec.Continuous is null)
        {
            return (ControlOutcome.NoPolicy, null);
        }
        for (var attempt = 0; ; attempt++)
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var state = await LoadStateAsync(db, trainer, clock.Now, cancellationToken);
            state.Paused = paused;
            state.UpdatedAt = clock.Now;
            state.Revision++;
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                return (ControlOutcome.Done, state);
            }
            catch (DbUpdateConcurrencyException) when (attempt < 10)
            {
            }
        }
    }

    /// <summary>
    /// A manual trigger: ignores pause and cooldown, respects <c>max_running</c>; returns once the
    /// run's job exists (or the run failed to start).
    /// </summary>
    public async Task<(ControlOutcome Outcome, ContinuousRun? Run)> TriggerAsync(string trainer, CancellationToken cancellationToken)
    {
        if (!specs.Current.Trainers.TryGetValue(trainer, out var spec) || spec.Continuous is not { } policy)
        {
            return (ControlOutcome.NoPolicy, null);
        }
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var now = clock.Now;
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var state = await LoadStateAsync(db, trainer, now, cancellationToken);
            if (await ActiveRunsAsync(db, trainer, now, cancellationToken) >= policy.MaxRunning)
            {
                return (ControlOutcome.Busy, null);
            }
            var claim = await ClaimAsync(db, state, policy, Triggers.Manual, new JsonObject { ["requested_at"] = now }, now, cancellationToken);
            if (claim is not null)
            {
                return (ControlOutcome.Done, await StartRunAsync(trainer, claim, CancellationToken.None));
            }
        }
        return (ControlOutcome.Busy, null);
    }

    /// <summary>What <c>GET /admin/continuous</c> shows for each policy.</summary>
    public async Task<ContinuousList> DescribeAsync(CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, JsonObject>();
        var now = clock.Now;
        foreach (var trainer in Policies(specs))
        {
            var spec = trainer.Continuous!;
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var state = await db.ContinuousTrainers.AsNoTracking().SingleOrDefaultAsync(s => s.Trainer == trainer.Name, cancellationToken)
                ?? new ContinuousTrainerState { Trainer = trainer.Name, CreatedAt = now, ScheduleFrom = now, UpdatedAt = now };
            var next = spec.Cron?.GetNextOccurrence(state.ScheduleFrom.UtcDateTime, TimeZoneInfo.Utc);
            var doc = new JsonObject
            {
                ["enabled"] = spec.Enabled && options.Value.Enabled,
                ["paused"] = state.Paused,
                ["policy"] = spec.ToJson(),
                ["next_schedule"] = next is { } n ? new DateTimeOffset(n, TimeSpan.Zero) : null,
                ["cooldown_until"] = state.LastFiredAt is { } fired && fired.AddSeconds(spec.CooldownSeconds) > now ? fired.AddSeconds(spec.CooldownSeconds) : null,
                ["running"] = await ActiveRunsAsync(db, trainer.Name, now, cancellationToken),
                ["counted_since"] = state.WindowEnd ?? state.CreatedAt,
            };
            // An API answer does not wait 30 s for a telemetry-ingest that is not there.
            var stats = await StatisticsAsync(trainer, state, cancellationToken, TimeSpan.FromSeconds(5));
            if (stats is { } s)
            {
                doc["counters"] = new JsonObject { ["new_decisions"] = s.Statistics.NewDecisions, ["new_feedback"] = s.Statistics.NewFeedback };
                doc["psi"] = s.Baseline is null ? null : new JsonObject(s.Statistics.Psi.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value)));
                doc["max_psi"] = s.Baseline is null ? null : s.Statistics.MaxPsi;
                doc["drift_baseline"] = s.Baseline is null ? null : new JsonObject
                {
                    ["model"] = s.Baseline.ModelName, ["version"] = s.Baseline.Version, ["dataset"] = s.Baseline.DatasetId,
                    ["current_samples"] = s.Statistics.CurrentSamples, ["baseline_samples"] = s.Statistics.BaselineSamples,
                };
                doc["graded_quality"] = s.Statistics.GradedSamples == 0 ? null : new JsonObject
                {
                    ["current"] = s.Statistics.CurrentQuality, ["baseline"] = s.Statistics.BaselineQuality, ["graded_samples"] = s.Statistics.GradedSamples,
                    ["registry"] = s.Baseline?.RegistryValue, ["metric"] = s.Baseline?.Metric,
                };
            }
            else
            {
                doc["counters"] = null;
                doc["statistics_error"] = "telemetry-ingest did not answer";
            }
            doc["last"] = state.LastRunId is { } runId && await RunDocumentAsync(db, runId, cancellationToken) is { } last ? LedgerJson.ToObject(last) : null;
            result[trainer.Name] = doc;
        }
        return new ContinuousList(result);
    }

    public static async Task<ContinuousRunDocument?> RunDocumentAsync(LedgerDbContext db, Guid runId, CancellationToken cancellationToken)
    {
        var run = await db.ContinuousRuns.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId, cancellationToken);
        if (run is null)
        {
            return null;
        }
        var job = run.JobId is { } id ? await db.Jobs.AsNoTracking().Where(j => j.Id == id).Select(j => new { j.State, j.Phase }).SingleOrDefaultAsync(cancellationToken) : null;
        return RunDocument(run, job?.State);
    }

    public static ContinuousRunDocument RunDocument(ContinuousRun run, string? jobState) => new()
    {
        RunId = run.Id,
        Trigger = run.Trigger,
        Details = JsonNode.Parse(run.DetailsJson),
        State = run.State,
        FiredAt = run.ClaimedAt,
        Dataset = run.DatasetId,
        JobId = run.JobId,
        JobState = jobState,
        Error = run.Error,
    };

    [LoggerMessage(Level = LogLevel.Information, Message = "Continuous training of {Trainer}: {Trigger} fired ({Details})")]
    private static partial void LogFired(ILogger logger, string trainer, string trigger, string details);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Continuous training of {Trainer}: another replica claimed the {Trigger} trigger first")]
    private static partial void LogClaimLost(ILogger logger, string trainer, string trigger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Continuous training of {Trainer}: evaluation failed")]
    private static partial void LogEvaluationFailed(ILogger logger, Exception ex, string trainer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Continuous training of {Trainer}: telemetry-ingest did not answer the statistics request")]
    private static partial void LogNoStatistics(ILogger logger, string trainer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Continuous training of {Trainer}: run {RunId} failed to start")]
    private static partial void LogRunFailed(ILogger logger, Exception ex, string trainer, Guid runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Continuous training of {Trainer}: run {RunId} not started: {Error}")]
    private static partial void LogRunNotStarted(ILogger logger, string trainer, Guid runId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not publish DriftDetected for {Trainer}")]
    private static partial void LogPublishFailed(ILogger logger, Exception ex, string trainer);
}

/// <summary>Evaluates the policies every <c>RouteIQ:Continuous:EvaluateSeconds</c> (each replica; the claim keeps firing exactly-once).</summary>
public sealed class ContinuousService(ContinuousEngine engine, IOptions<ContinuousOptions> options) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enabled)
        {
            return;
        }
        var period = TimeSpan.FromSeconds(options.Value.EvaluateSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, stoppingToken);
                await engine.EvaluateAllAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }
    }
}
