using System.Text.Json;
using System.Text.Json.Nodes;
using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>
/// A job's lifecycle, every transition in one place. The consumers, the cancel call and the lost-job
/// sweeper only say which event happened; what it does to the job is decided here.
/// <code>
///   kind train:    queued ─TrainStarted→ running ─TrainCompleted→ succeeded            (phase training)
///                                             └─TrainCompleted + roll_on_success→ (phase rolling)
///                                                  ─ModelRolledOut→ succeeded │ ─RollFailed→ failed
///                  running ─TrainFailed→ failed │ ─(handed back)→ same state, next attempt
///                  running ─silent→ lost ─(next attempt)→ running … │ lost ─(attempts spent)→ failed
///                  queued│running│lost ─cancel→ cancelled
///   kind roll, rollback: queued ─ModelRolledOut→ succeeded │ ─RollFailed→ failed
/// </code>
/// Each method returns whether the job changed (the ledger then saves it and announces the state).
/// Events are idempotent: an older attempt's, a duplicate, or one after the job ended changes nothing.
/// A terminal state is never left.
/// </summary>
internal static class JobLifecycle
{
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        [JobStates.Queued] = [JobStates.Running, JobStates.Succeeded, JobStates.Failed, JobStates.Cancelled, JobStates.Lost],
        [JobStates.Running] = [JobStates.Succeeded, JobStates.Failed, JobStates.Cancelled, JobStates.Lost],
        [JobStates.Lost] = [JobStates.Running, JobStates.Succeeded, JobStates.Failed, JobStates.Cancelled],
        [JobStates.Succeeded] = [],
        [JobStates.Failed] = [],
        [JobStates.Cancelled] = [],
    };

    /// <summary>Whether the lifecycle allows <paramref name="from"/> → <paramref name="to"/> (staying is always allowed).</summary>
    public static bool CanMove(string from, string to) => from == to || Allowed.TryGetValue(from, out var next) && next.Contains(to);

    private static void MoveTo(Job job, string state)
    {
        if (!CanMove(job.State, state))
        {
            // Only a late event can ask for this (a rollout's answer after a cancel): the job keeps its end.
            return;
        }
        job.State = state;
    }

    // ── the results, typed; stored as JSON in the job's row (the response fields of specs/admin-api.md) ──

    public static TrainResponse? TrainResult(this Job job)
        => job.TrainResultJson is null ? null : JsonSerializer.Deserialize<TrainResponse>(job.TrainResultJson, ApiJson.Options);

    private static void SetTrainResult(this Job job, TrainResponse result) => job.TrainResultJson = JsonSerializer.Serialize(result, ApiJson.Options);

    public static RollResult? RollResult(this Job job)
        => job.RollResultJson is null ? null : JsonSerializer.Deserialize<RollResult>(job.RollResultJson, ApiJson.Options);

    private static void Fail(Job job, int status, JsonObject error, DateTimeOffset? now = null)
    {
        MoveTo(job, JobStates.Failed);
        if (now is { } at)
        {
            job.FinishedAt = at;
        }
        job.StatusCode = status;
        job.ErrorJson = error.ToJsonString();
    }

    // ── events ──

    /// <summary>A runner started the attempt. A start on a second node of an attempt already running is stopped there (<paramref name="duplicateOn"/>).</summary>
    public static bool Started(Job job, TrainStarted m, LedgerDbContext db, DateTimeOffset now, out string? duplicateOn)
    {
        duplicateOn = null;
        if (m.Attempt < job.Attempt || job.Phase != JobPhases.Training)
        {
            return false;
        }
        if (JobStates.IsTerminal(job.State))
        {
            if (job.State != JobStates.Cancelled)
            {
                return false;
            }
            // Started after it was cancelled: stop it there.
            db.Outbox.Add(OutboxMessages.Publish(job.Id, new CancelTrain { JobId = job.Id, Node = m.Node, Attempt = m.Attempt, Reason = "job was cancelled", RequestedAt = now }, now));
            return true;
        }
        if (job.State == JobStates.Running && job.Attempt == m.Attempt && job.Node is { } node && node != m.Node)
        {
            duplicateOn = m.Node;
            db.Outbox.Add(OutboxMessages.Publish(job.Id, new CancelTrain { JobId = job.Id, Node = m.Node, Attempt = m.Attempt, Reason = "duplicate start of an attempt already running elsewhere", RequestedAt = now }, now));
            return true;
        }
        job.Attempt = m.Attempt;
        MoveTo(job, JobStates.Running);
        job.StartedAt ??= m.StartedAt;
        job.LastHeartbeatAt = m.StartedAt > (job.LastHeartbeatAt ?? DateTimeOffset.MinValue) ? m.StartedAt : job.LastHeartbeatAt;
        job.Node = m.Node;
        job.WorkloadName = m.WorkloadName;
        return true;
    }

    public static bool Heartbeat(Job job, TrainHeartbeat m)
    {
        if (m.Attempt != job.Attempt || job.Phase != JobPhases.Training || JobStates.IsTerminal(job.State))
        {
            return false;
        }
        if (job.LastHeartbeatAt is { } last && last > m.Timestamp)
        {
            return false;
        }
        MoveTo(job, JobStates.Running);
        job.LastHeartbeatAt = m.Timestamp;
        job.Node ??= m.Node;
        job.WorkloadName ??= m.WorkloadName;
        if (m.LogTail is not null)
        {
            job.LogTail = m.LogTail;
        }
        return true;
    }

    /// <summary>Training succeeded: the train response is recorded; a train-and-roll job goes on rolling.</summary>
    public static bool TrainingCompleted(Job job, TrainCompleted m, DateTimeOffset now)
    {
        if (job.Kind != JobKinds.Train || m.Attempt < job.Attempt || job.TrainResultJson is not null || JobStates.IsTerminal(job.State))
        {
            return false;
        }
        var resolved = LedgerJson.Parse(job.ResolvedJson);
        // The rollout may have reported the version before this event arrived.
        var registered = job.RollResult();
        job.SetTrainResult(new TrainResponse
        {
            JobId = job.Id,
            Trainer = m.Trainer,
            Container = m.WorkloadName,
            RunId = m.RunId,
            RegisteredModel = m.ModelName,
            Version = registered?.Version,
            ModelUri = registered?.ModelUri ?? m.OutputUri,
            Metrics = m.Metrics.ToDictionary(kv => kv.Key, kv => double.IsFinite(kv.Value) ? kv.Value : (double?)null),
            ImageKey = m.ImageKey,
            ServeImage = m.ServeImage ?? resolved?["serve_image"]?.GetValue<string>(),
            Parameters = (resolved?["parameters"] as JsonObject)?.ToDictionary(kv => kv.Key, kv => kv.Value?.GetValue<string>()) ?? [],
            LogsTail = null,
            DurationSeconds = Math.Round(m.DurationSeconds, 3),
        });
        job.Node = m.Node;
        job.WorkloadName = m.WorkloadName;
        job.LogsUri = m.LogsUri;
        job.StartedAt ??= m.CompletedAt.AddSeconds(-m.DurationSeconds);
        if (job.RollOnSuccess)
        {
            job.Phase = JobPhases.Rolling;
            Settle(job, now);
        }
        else
        {
            MoveTo(job, JobStates.Succeeded);
            job.FinishedAt = now;
        }
        return true;
    }

    /// <summary>Training failed, was cancelled on the node, or was handed back by a stopping runner (then dispatched again).</summary>
    public static bool TrainingFailed(Job job, TrainFailed m, LedgerDbContext db, DateTimeOffset now)
    {
        if (m.Attempt != job.Attempt || job.Phase != JobPhases.Training || JobStates.IsTerminal(job.State))
        {
            return false;
        }
        if (m.HandedBack)
        {
            job.HandBacks++;
            Redispatch(job, db, now);
            return true;
        }
        job.FinishedAt = now;
        job.LogTail = m.LogsTail ?? job.LogTail;
        job.LogsUri = m.LogsUri ?? job.LogsUri;
        if (m.Cancelled)
        {
            MoveTo(job, JobStates.Cancelled);
            job.StatusCode ??= 409;
            job.ErrorJson ??= new JsonObject { ["error"] = "job cancelled", ["job_id"] = job.Id, ["reason"] = m.Reason }.ToJsonString();
            return true;
        }
        var exit = m.ExitCode ?? (m.TimedOut ? 124 : null);
        var resolved = LedgerJson.Parse(job.ResolvedJson);
        Fail(job, 500, new JsonObject
        {
            ["error"] = exit is { } code ? $"trainer failed (exit={code})" : $"trainer failed ({m.Reason})",
            ["reason"] = m.Reason,
            ["job_id"] = job.Id,
            ["trainer"] = m.Trainer,
            ["container"] = m.WorkloadName,
            ["run_id"] = m.RunId,
            ["registered_model"] = job.ModelName,
            ["version"] = null,
            ["model_uri"] = null,
            ["metrics"] = new JsonObject(),
            ["image_key"] = resolved?["image_key"]?.DeepClone(),
            ["serve_image"] = resolved?["serve_image"]?.DeepClone(),
            ["parameters"] = resolved?["parameters"]?.DeepClone() ?? new JsonObject(),
            ["exit_code"] = exit,
            ["timed_out"] = m.TimedOut,
            ["logs_tail"] = Tail(m.LogsTail),
            ["duration_seconds"] = Math.Round(m.DurationSeconds, 3),
        });
        return true;
    }

    /// <summary>The end of a log as a failure carries it (compatible: 1,200 characters).</summary>
    internal static string? Tail(string? log) => log is { Length: > 1200 } ? log[^1200..] : log;

    /// <summary>The registry gave the trained model its version. Throws <see cref="JobNotReadyException"/> when it arrives before TrainCompleted.</summary>
    public static bool VersionRegistered(Job job, ModelVersionRegistered m, DateTimeOffset now)
    {
        if (job.Kind != JobKinds.Train)
        {
            return false;
        }
        var train = job.TrainResult();
        if (train is null)
        {
            if (JobStates.IsTerminal(job.State))
            {
                return false;
            }
            // Registered before this replica applied TrainCompleted: the retry policy tries again shortly.
            throw new JobNotReadyException(job.Id);
        }
        if (train.Version is not null)
        {
            return false;
        }
        job.SetTrainResult(train with { Version = m.Version, ModelUri = m.ModelUri, RegisteredModel = m.ModelName, RunId = train.RunId ?? m.RunId });
        Settle(job, now);
        return true;
    }

    /// <summary>The version is live behind the stable endpoint.</summary>
    public static bool RolledOut(Job job, RollResult roll, DateTimeOffset now)
    {
        if (JobStates.IsTerminal(job.State) || (job.Kind == JobKinds.Train && !job.RollOnSuccess))
        {
            return false;
        }
        if (job.RollResult()?.Active is not null)
        {
            return false;
        }
        job.RollResultJson = JsonSerializer.Serialize(roll, ApiJson.Options);
        if (job.Kind == JobKinds.Train)
        {
            if (job.TrainResult() is { } train)
            {
                job.SetTrainResult(train with { Version = roll.Version, RegisteredModel = roll.Name });
            }
        }
        else
        {
            job.StartedAt ??= job.CreatedAt;
        }
        Settle(job, now);
        return true;
    }

    public static bool RollFailed(Job job, RollFailed m, DateTimeOffset now)
    {
        if (JobStates.IsTerminal(job.State) || job.ErrorJson is not null || (job.Kind == JobKinds.Train && !job.RollOnSuccess))
        {
            return false;
        }
        job.StatusCode = m.StatusCode is >= 400 and <= 599 ? m.StatusCode : 500;
        job.ErrorJson = new JsonObject
        {
            ["error"] = m.Reason,
            ["name"] = m.ModelName,
            ["ref"] = m.Ref,
            ["version"] = m.Version,
            ["is_rollback"] = m.IsRollback,
        }.ToJsonString();
        Settle(job, now);
        return true;
    }

    /// <summary><c>DELETE /admin/jobs/{id}</c>: a train job that has not ended is cancelled and its runners told to stop. Null, or why not.</summary>
    public static string? Cancel(Job job, LedgerDbContext db, DateTimeOffset now)
    {
        if (job.Kind != JobKinds.Train)
        {
            return "only train jobs can be cancelled";
        }
        if (JobStates.IsTerminal(job.State))
        {
            return $"job already {job.State}";
        }
        var cancelledWhile = job.State;
        MoveTo(job, JobStates.Cancelled);
        job.FinishedAt = now;
        job.StatusCode = 409;
        job.ErrorJson = new JsonObject { ["error"] = "job cancelled", ["job_id"] = job.Id, ["cancelled_while"] = cancelledWhile }.ToJsonString();
        db.Outbox.Add(OutboxMessages.Publish(job.Id, new CancelTrain { JobId = job.Id, Reason = "cancelled by request", RequestedAt = now }, now));
        return null;
    }

    /// <summary>
    /// The runner went silent: the attempt is stopped where it may still run, and the job dispatched
    /// again (state <c>lost</c>) or, with its attempts spent, failed. Returns whether it was retried.
    /// </summary>
    public static bool Lost(Job job, LedgerDbContext db, DateTimeOffset now, int maxAttempts, out int counted)
    {
        var lostNode = job.Node;
        counted = job.Attempt - job.HandBacks;
        db.Outbox.Add(OutboxMessages.Publish(job.Id, new CancelTrain { JobId = job.Id, Node = lostNode, Attempt = job.Attempt, Reason = "runner lost", RequestedAt = now }, now));
        if (counted < maxAttempts)
        {
            MoveTo(job, JobStates.Lost);
            Redispatch(job, db, now);
            return true;
        }
        Fail(job, 500, new JsonObject
        {
            ["error"] = "runner lost",
            ["job_id"] = job.Id,
            ["trainer"] = job.Trainer,
            ["node"] = lostNode,
            ["attempts"] = counted,
            ["logs_tail"] = Tail(job.LogTail),
        }, now);
        return false;
    }

    /// <summary>When a job's outcome is complete: a roll job on its roll; a train-and-roll job on both its phases.</summary>
    private static void Settle(Job job, DateTimeOffset now)
    {
        var trained = job.Kind != JobKinds.Train || job.TrainResultJson is not null;
        if (!trained)
        {
            return;
        }
        var rolled = job.RollResult()?.Active is not null;
        if (job.ErrorJson is not null && job.State != JobStates.Failed)
        {
            if (CanMove(job.State, JobStates.Failed))
            {
                job.State = JobStates.Failed;
                job.FinishedAt = now;
            }
        }
        else if (job.ErrorJson is null && (rolled || !job.RollOnSuccess && job.Kind == JobKinds.Train))
        {
            MoveTo(job, JobStates.Succeeded);
            job.FinishedAt ??= now;
        }
        else if (job.State == JobStates.Queued)
        {
            MoveTo(job, JobStates.Running);
        }
    }

    /// <summary>A new attempt of the job's last dispatch, through the outbox.</summary>
    private static void Redispatch(Job job, LedgerDbContext db, DateTimeOffset now)
    {
        var previous = JsonSerializer.Deserialize<TrainRequested>(job.DispatchJson!, LedgerJson.Messages)!;
        job.Attempt++;
        var message = previous with { Attempt = job.Attempt, RequestedAt = now };
        job.DispatchJson = JsonSerializer.Serialize(message, LedgerJson.Messages);
        job.Node = null;
        job.WorkloadName = null;
        job.LastHeartbeatAt = null;
        db.Outbox.Add(OutboxMessages.Send(message, now, job.DispatchJson));
    }
}

/// <summary>The rollout outcome of a roll, rollback or train-and-roll job (stored with the job; the roll response's fields and more).</summary>
public sealed record RollResult
{
    public bool? Active { get; init; }
    public string? Url { get; init; }
    public string? PublicUrl { get; init; }
    public string? Name { get; init; }
    public int? Version { get; init; }
    public string? Alias { get; init; }
    public string? ModelUri { get; init; }
    public string? ServeImage { get; init; }
    public string? ManifestUri { get; init; }
    public Guid? DeploymentId { get; init; }
    public int? PreviousVersion { get; init; }
    public bool IsRollback { get; init; }
}

/// <summary>An event arrived before the one it follows; retried.</summary>
public sealed class JobNotReadyException(Guid jobId) : Exception($"job {jobId} has not reached the state this event follows yet");
