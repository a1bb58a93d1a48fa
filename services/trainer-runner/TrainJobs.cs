using System.Globalization;
using System.Text;
using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Options;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.ServiceDefaults;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner;

/// <summary>
/// Runs training jobs on this node: takes a <c>TrainRequested</c> when a slot is free, starts
/// its workload, reports <c>TrainStarted</c>, heartbeats while it runs, then uploads what it
/// produced and publishes <c>TrainCompleted</c> or <c>TrainFailed</c>. The broker message is
/// acknowledged as soon as the job runs here; everything after happens in the background.
/// </summary>
public sealed partial class TrainJobs(
    IWorkloadLauncher launcher,
    RunnerState state,
    IArtifactStore store,
    IBus bus,
    IOptions<RunnerOptions> options,
    IOptions<RouteIQOptions> routeiq,
    TimeProvider time,
    ILogger<TrainJobs> logger,
    MlflowSettings mlflowSettings,
    MlflowClient? mlflow = null)
{
    public const int LogTailChars = 1200;

    /// <summary>The most output one <see cref="TrainLogAppended"/> carries.</summary>
    public const int LogChunkChars = 16 * 1024;
    public const string ModelNameVariable = "REGISTERED_MODEL_NAME";
    public const string MetricsFile = "metrics.json";

    private readonly RunnerOptions _options = options.Value;
    private readonly string _workDirectory = options.Value.WorkDirectory is { Length: > 0 } dir
        ? Path.GetFullPath(dir)
        : Path.Combine(routeiq.Value.FullDataDir, "runner", Sanitize(routeiq.Value.ResolvedNodeName));

    public string Node => state.Node;

    /// <summary>Handles one <c>TrainRequested</c> delivery; returns once the job runs here, was refused, or was handed back.</summary>
    public async Task AcceptAsync(ConsumeContext<TrainRequested> context)
    {
        var request = context.Message;
        if (Validate(request) is { } problem)
        {
            LogInvalid(request.JobId, problem);
            await context.Publish(Failed(request, null, $"invalid TrainRequested: {problem}")).ConfigureAwait(false);
            return;
        }
        if (state.WasTaken(request.JobId, request.Attempt))
        {
            LogDuplicate(request.JobId, request.Attempt, Node);
            return;
        }
        if (state.IsCancelled(request.JobId, request.Attempt))
        {
            LogCancelledBeforeStart(request.JobId, Node);
            await context.Publish(Failed(request, null, "cancelled") with { Cancelled = true }).ConfigureAwait(false);
            return;
        }
        if (!state.CanEverRun(request.Gpus))
        {
            // Wrong queue for this node (a GPU job on a CPU-only node, or more GPUs than it has).
            LogCannotRun(request.JobId, request.Gpus, Node, state.Gpus);
            await HandBackAsync(context, delay: true).ConfigureAwait(false);
            return;
        }

        var name = WorkloadName(request);
        var job = new RunningJob(request, name, Path.Combine(_workDirectory, $"{request.JobId:N}-{request.Attempt}"),
            request.Gpus, time.GetUtcNow());
        var wait = TimeSpan.FromSeconds(_options.SlotWaitSeconds);
        switch (await state.TryReserveAsync(job, wait, time, context.CancellationToken).ConfigureAwait(false))
        {
            case Reservation.Duplicate:
                LogDuplicate(request.JobId, request.Attempt, Node);
                return;
            case Reservation.Full:
            case Reservation.Draining:
                await HandBackAsync(context, delay: state.Draining).ConfigureAwait(false);
                return;
        }

        try
        {
            await StartAsync(job, context).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not WorkloadLaunchException)
        {
            // Transient (broker, Docker socket, disk): forget the attempt so the redelivery runs it.
            if (job.Workload is { } started)
            {
                await started.DisposeAsync().ConfigureAwait(false);
            }
            state.Abandon(job);
            throw;
        }
    }

    private async Task StartAsync(RunningJob job, ConsumeContext<TrainRequested> context)
    {
        var request = job.Request;
        Directory.CreateDirectory(job.OutputDirectory);
        job.Dataset = await PrepareDatasetAsync(job, context.CancellationToken).ConfigureAwait(false);
        await StartMlflowRunAsync(job, context.CancellationToken).ConfigureAwait(false);
        try
        {
            job.Workload = await launcher.StartAsync(BuildSpec(job), context.CancellationToken).ConfigureAwait(false);
        }
        catch (WorkloadLaunchException e)
        {
            LogLaunchFailed(e, request.JobId, Node);
            await EndMlflowRunAsync(job, "FAILED").ConfigureAwait(false);
            await context.Publish(Failed(request, job, $"launch failed: {e.Message}")).ConfigureAwait(false);
            DeleteDirectory(job.OutputDirectory);
            DeleteDirectory(job.InputDirectory);
            state.Release(job);
            return;
        }

        // The execution exists from the moment the workload does (shutdown waits on it), but
        // reports nothing before TrainStarted is out; if that publish fails, the consumer's
        // retry path removes the workload instead.
        var announced = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        job.Execution = Task.Run(async () =>
        {
            if (await announced.Task.ConfigureAwait(false))
            {
                await RunAsync(job).ConfigureAwait(false);
            }
        });
        try
        {
            await context.Publish(new TrainStarted
            {
                JobId = request.JobId,
                Trainer = request.Trainer,
                Node = Node,
                WorkloadName = job.WorkloadName,
                Attempt = request.Attempt,
                RunId = job.MlflowRunId,
                StartedAt = time.GetUtcNow(),
            }).ConfigureAwait(false);
        }
        catch
        {
            announced.TrySetResult(false);
            throw;
        }
        LogStarted(request.JobId, request.Attempt, Node, job.WorkloadName, launcher.Kind);

        // A cancel may have arrived between the reservation and the start; a shutdown whose grace
        // ran out may have asked for the job back before its workload existed. (A shutdown that
        // merely began waits for this job: it was reserved before draining started.)
        if (state.IsCancelled(request.JobId, request.Attempt) && job.RequestCancel()
            || job.HandBackRequested)
        {
            _ = job.Workload.StopAsync(TimeSpan.FromSeconds(2));
        }
        announced.TrySetResult(true);
    }

    /// <summary>Where a staged or mounted dataset appears inside a container.</summary>
    public const string ContainerInputDir = "/input";

    /// <summary>
    /// A dataset of this runner's own artifact store reaches the workload without the store's credentials: on S3 the
    /// runner copies it into the job's input folder (read-only at <c>/input</c> in a container); a file store's
    /// dataset folder is mounted read-only as it is (or read in place by a local process). Any other dataset URI
    /// (one a spec names) is passed on unchanged.
    /// </summary>
    public async Task<DatasetInput?> PrepareDatasetAsync(RunningJob job, CancellationToken cancellationToken)
    {
        if (job.Request.DatasetUri is not { Length: > 0 } uri || OwnDatasetKey(uri) is not { } key)
        {
            return null;
        }
        var docker = launcher.Kind == "docker";
        if (store is FileArtifactStore files)
        {
            var path = Path.TrimEndingDirectorySeparator(files.GetPath(key));
            return docker ? new DatasetInput(path, ContainerInputDir + "/", Mounted: true) : null;
        }
        var input = job.InputDirectory;
        Directory.CreateDirectory(input);
        var staged = 0;
        await foreach (var entry in store.ListAsync(key, cancellationToken).ConfigureAwait(false))
        {
            var name = entry.Key[key.Length..];
            if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal))
            {
                continue;
            }
            await using var source = await store.OpenReadAsync(entry.Key, cancellationToken).ConfigureAwait(false);
            await using var target = File.Create(Path.Combine(input, name));
            await source.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
            staged++;
        }
        LogDatasetStaged(job.JobId, uri, staged, input);
        return docker
            ? new DatasetInput(input, ContainerInputDir + "/", Mounted: true)
            : new DatasetInput(input, new Uri(Path.GetFullPath(input) + "/").AbsoluteUri, Mounted: false);
    }

    /// <summary>The store key of <paramref name="uri"/> when it names a dataset of this runner's own store (<c>datasets/{id}/</c>).</summary>
    private string? OwnDatasetKey(string uri)
    {
        var trimmed = uri.TrimEnd('/');
        var id = trimmed[(trimmed.LastIndexOf('/') + 1)..];
        if (!Identifiers.IsValid(id))
        {
            return null;
        }
        var key = ArtifactKeys.Dataset(id);
        return string.Equals(store.GetUri(key).TrimEnd('/'), trimmed, StringComparison.Ordinal) ? key : null;
    }

    /// <summary>Builds what the workload gets: the resolved environment with the runner's variables winning.</summary>
    public WorkloadSpec BuildSpec(RunningJob job)
    {
        var request = job.Request;
        var environment = ResolveEnvironment(request, job.MlflowRunId, mlflowSettings.TrackingUri);
        var mounts = new Dictionary<string, string>(StringComparer.Ordinal);
        if (job.Dataset is { } dataset)
        {
            environment["ROUTEIQ_DATASET_URI"] = dataset.WorkloadUri;
            if (dataset.Mounted)
            {
                mounts[dataset.HostPath] = ContainerInputDir;
            }
        }
        return new WorkloadSpec
        {
            Name = job.WorkloadName,
            Image = request.Image,
            Command = request.Command is { Count: > 0 } command ? command : null,
            Environment = environment,
            ReadOnlyMounts = mounts,
            Labels = new Dictionary<string, string>
            {
                [WorkloadLabels.JobId] = request.JobId.ToString(),
                [WorkloadLabels.Trainer] = request.Trainer,
                [WorkloadLabels.Node] = Node,
                ["routeiq.attempt"] = request.Attempt.ToString(CultureInfo.InvariantCulture),
            },
            OutputDirectory = job.OutputDirectory,
            Gpus = request.Gpus,
            Resources = request.Resources,
            Timeout = TimeSpan.FromSeconds(request.TimeoutSeconds),
        };
    }

    /// <summary>
    /// Spec env, then the request parameters (<c>null</c> removes a key; re-applying them is a
    /// no-op when gateway-admin already merged them), then the injected variables, which win.
    /// The runner's own environment (credentials included) is never passed on: a trainer that
    /// needs S3 gets <c>AWS_*</c> only through its spec's env.
    /// </summary>
    public static Dictionary<string, string> ResolveEnvironment(TrainRequested request, string? mlflowRunId, string? mlflowTrackingUri)
    {
        var environment = new Dictionary<string, string>(request.Environment, StringComparer.Ordinal);
        foreach (var (key, value) in request.Parameters)
        {
            if (value is null)
            {
                environment.Remove(key);
            }
            else
            {
                environment[key] = value;
            }
        }
        environment["ROUTEIQ_JOB_ID"] = request.JobId.ToString();
        // The launcher replaces this with the path the workload sees (/output in a container).
        environment[WorkloadLabels.OutputDirVariable] = WorkloadLabels.ContainerOutputDir;
        if (!string.IsNullOrWhiteSpace(request.DatasetUri))
        {
            environment["ROUTEIQ_DATASET_URI"] = request.DatasetUri;
        }
        if (mlflowRunId is not null && mlflowTrackingUri is not null)
        {
            environment["MLFLOW_TRACKING_URI"] = mlflowTrackingUri;
            environment["MLFLOW_RUN_ID"] = mlflowRunId;
        }
        return environment;
    }

    public static string ResolveModelName(TrainRequested request)
    {
        var environment = ResolveEnvironment(request, null, null);
        if (environment.TryGetValue(ModelNameVariable, out var name) && !string.IsNullOrWhiteSpace(name))
        {
            return name;
        }
        return string.IsNullOrWhiteSpace(request.ModelName) ? request.Trainer : request.ModelName;
    }

    private async Task RunAsync(RunningJob job)
    {
        var workload = job.Workload!;
        var request = job.Request;
        var started = time.GetTimestamp();
        using var heartbeats = new CancellationTokenSource();
        var heartbeat = HeartbeatAsync(job, heartbeats.Token);
        var logStream = StreamLogAsync(job, heartbeats.Token);
        try
        {
            var exit = await workload.Completion.ConfigureAwait(false);
            var duration = time.GetElapsedTime(started).TotalSeconds;
            await heartbeats.CancelAsync().ConfigureAwait(false);
            await heartbeat.ConfigureAwait(false);
            await logStream.ConfigureAwait(false);

            var log = workload.FullLog();
            var tail = workload.LogTail(LogTailChars);
            // The container (or process) goes first, so whoever sees the final event finds it gone.
            await workload.DisposeAsync().ConfigureAwait(false);

            if (job.HandBackRequested)
            {
                await EndMlflowRunAsync(job, "KILLED").ConfigureAwait(false);
                await bus.Publish(Failed(request, job, "runner shut down") with
                {
                    HandedBack = true, ExitCode = exit.ExitCode, LogsTail = tail, DurationSeconds = duration,
                }).ConfigureAwait(false);
                LogHandedBack(request.JobId, Node);
                return;
            }
            if (job.CancelRequested)
            {
                await EndMlflowRunAsync(job, "KILLED").ConfigureAwait(false);
                await bus.Publish(Failed(request, job, "cancelled") with
                {
                    Cancelled = true, ExitCode = exit.ExitCode, LogsTail = tail, DurationSeconds = duration,
                }).ConfigureAwait(false);
                LogCancelled(request.JobId, Node);
                return;
            }

            var logsUri = await UploadLogAsync(request.JobId, log).ConfigureAwait(false);
            string? reason = exit switch
            {
                { TimedOut: true } => $"timed out after {request.TimeoutSeconds} s (exit={WorkloadExit.TimeoutExitCode})",
                { ExitCode: not 0 } => $"trainer failed (exit={exit.ExitCode})",
                _ => null,
            };
            var outputs = reason is null ? ListOutputs(job.OutputDirectory) : [];
            if (reason is null && !outputs.Any(f => f.Relative != MetricsFile))
            {
                reason = "no model produced";
            }
            if (reason is not null)
            {
                await EndMlflowRunAsync(job, "FAILED").ConfigureAwait(false);
                await bus.Publish(Failed(request, job, reason) with
                {
                    ExitCode = exit.ExitCode, TimedOut = exit.TimedOut, LogsTail = tail, LogsUri = logsUri, DurationSeconds = duration,
                }).ConfigureAwait(false);
                LogFailed(request.JobId, Node, reason);
                return;
            }

            var files = new List<ArtifactFile>();
            foreach (var (full, relative) in outputs)
            {
                await using var content = File.OpenRead(full);
                var stored = await store.PutAsync(ArtifactKeys.RunOutput(request.JobId) + relative, content).ConfigureAwait(false);
                files.Add(stored with { Path = relative });
            }
            var metrics = await ReadMetricsAsync(job).ConfigureAwait(false);
            var modelName = ResolveModelName(request);
            await EndMlflowRunAsync(job, "FINISHED").ConfigureAwait(false);
            var mlflowVersion = await FindMlflowVersionAsync(job, modelName).ConfigureAwait(false);

            await bus.Publish(new TrainCompleted
            {
                JobId = request.JobId,
                Trainer = request.Trainer,
                Node = Node,
                WorkloadName = job.WorkloadName,
                Attempt = request.Attempt,
                ModelName = modelName,
                OutputUri = store.GetUri(ArtifactKeys.RunOutput(request.JobId)),
                LogsUri = logsUri,
                Files = files,
                Metrics = metrics,
                RunId = job.MlflowRunId,
                MlflowModelVersion = mlflowVersion,
                ImageKey = request.ImageKey,
                ServeImage = request.ServeImage,
                ServeCommand = request.ServeCommand,
                RollOnSuccess = request.RollOnSuccess,
                Alias = request.Alias,
                WaitReadySeconds = request.WaitReadySeconds,
                Promotion = request.Promotion,
                DurationSeconds = duration,
                CompletedAt = time.GetUtcNow(),
            }).ConfigureAwait(false);
            LogCompleted(request.JobId, Node, files.Count, modelName);
        }
        catch (Exception e)
        {
            LogRunnerError(e, request.JobId, Node);
            try
            {
                await bus.Publish(Failed(request, job, $"runner error: {e.Message}") with { LogsTail = workload.LogTail(LogTailChars) })
                    .ConfigureAwait(false);
            }
            catch (Exception publish)
            {
                LogPublishFailed(publish, request.JobId);
            }
        }
        finally
        {
            await heartbeats.CancelAsync().ConfigureAwait(false);
            try
            {
                await workload.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // The slot is freed regardless; a workload left behind is an orphan for the next start.
                LogRunnerError(e, request.JobId, Node);
            }
            DeleteDirectory(job.OutputDirectory);
            DeleteDirectory(job.InputDirectory);
            state.Release(job);
        }
    }

    private async Task HeartbeatAsync(RunningJob job, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_options.HeartbeatSeconds), time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await bus.Publish(new TrainHeartbeat
                    {
                        JobId = job.JobId,
                        Node = Node,
                        WorkloadName = job.WorkloadName,
                        Attempt = job.Attempt,
                        ElapsedSeconds = (time.GetUtcNow() - job.AcceptedAt).TotalSeconds,
                        LogTail = job.Workload?.LogTail(LogTailChars),
                        Timestamp = time.GetUtcNow(),
                    }, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A missed heartbeat is not fatal; three in a row make gateway-admin recover the job.
                    LogHeartbeatFailed(e, job.JobId);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The job ended.
        }
    }

    /// <summary>
    /// Publishes the job's new output every <see cref="RunnerOptions.LogStreamMilliseconds"/> (nothing when nothing is new),
    /// at most <see cref="LogChunkChars"/> characters a message; a lagging stream skips ahead to what the log still keeps.
    /// </summary>
    private async Task StreamLogAsync(RunningJob job, CancellationToken cancellationToken)
    {
        if (_options.LogStreamMilliseconds == 0)
        {
            return;
        }
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_options.LogStreamMilliseconds), time);
        var next = 0L;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (job.Workload is not { } workload)
                {
                    continue;
                }
                try
                {
                    for (var chunk = workload.ReadLog(next, LogChunkChars); chunk.Text.Length > 0; chunk = workload.ReadLog(next, LogChunkChars))
                    {
                        await bus.Publish(new TrainLogAppended
                        {
                            JobId = job.JobId, Attempt = job.Attempt, Node = Node, Offset = chunk.Offset, Text = chunk.Text, Timestamp = time.GetUtcNow(),
                        }, cancellationToken).ConfigureAwait(false);
                        next = chunk.Next;
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Live output is best effort: the tail rides on heartbeats and the whole log is stored at the end.
                    LogStreamFailed(e, job.JobId);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The job ended.
        }
    }

    /// <summary>Stops the job if it runs here (and matches the cancel's node/attempt); else remembers the cancel.</summary>
    public async Task CancelAsync(CancelTrain cancel)
    {
        if (cancel.Node is { } node && !string.Equals(node, Node, StringComparison.Ordinal))
        {
            return;
        }
        var job = state.Find(cancel.JobId);
        if (job is null || (cancel.Attempt is { } attempt && attempt != job.Attempt))
        {
            state.RememberCancel(cancel.JobId, cancel.Attempt);
            return;
        }
        if (!job.RequestCancel())
        {
            return;
        }
        LogCancelling(cancel.JobId, Node, cancel.Reason);
        if (job.Workload is { } workload)
        {
            await workload.StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        else
        {
            state.RememberCancel(cancel.JobId, job.Attempt);
        }
    }

    /// <summary>
    /// Shutdown: take no new work, let running jobs finish within <paramref name="grace"/>, then
    /// stop the rest and hand them back (gateway-admin re-dispatches them).
    /// </summary>
    public async Task DrainAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        state.StartDraining();
        var running = state.Running();
        if (running.Count == 0)
        {
            return;
        }
        LogDraining(Node, running.Count, grace.TotalSeconds);
        try
        {
            await Task.WhenAll(running.Select(j => j.Finished)).WaitAsync(grace, time, cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (TimeoutException)
        {
            // Hand back what is still running.
        }
        var left = state.Running();
        foreach (var job in left)
        {
            job.RequestHandBack();
        }
        await Task.WhenAll(left.Select(async job =>
        {
            if (job.Workload is { } workload)
            {
                await workload.StopAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
            }
            await job.Finished.ConfigureAwait(false);
        })).ConfigureAwait(false);
    }

    private async Task HandBackAsync(ConsumeContext<TrainRequested> context, bool delay)
    {
        if (delay)
        {
            // Nobody here can take it soon: don't spin it through the queue.
            await Task.Delay(TimeSpan.FromSeconds(_options.SlotWaitSeconds), time, context.CancellationToken).ConfigureAwait(false);
        }
        var endpoint = await context.GetSendEndpoint(context.ReceiveContext.InputAddress).ConfigureAwait(false);
        await endpoint.Send(context.Message, context.CancellationToken).ConfigureAwait(false);
    }

    private TrainFailed Failed(TrainRequested request, RunningJob? job, string reason) => new()
    {
        JobId = request.JobId,
        Trainer = request.Trainer ?? "",
        Node = Node,
        WorkloadName = job?.WorkloadName,
        Attempt = request.Attempt,
        Reason = reason,
        RunId = job?.MlflowRunId,
        FailedAt = time.GetUtcNow(),
    };

    private static string? Validate(TrainRequested request)
    {
        if (request.JobId == Guid.Empty)
        {
            return "JobId is required";
        }
        if (string.IsNullOrWhiteSpace(request.Trainer))
        {
            return "Trainer is required";
        }
        if (string.IsNullOrWhiteSpace(request.Image) && request.Command is not { Count: > 0 })
        {
            return "Image (or Command) is required";
        }
        if (request.TimeoutSeconds <= 0)
        {
            return $"TimeoutSeconds must be positive (was {request.TimeoutSeconds})";
        }
        if (request.Gpus < -1)
        {
            return $"Gpus must be -1 (all), 0 or a count (was {request.Gpus})";
        }
        if (request.Attempt < 1)
        {
            return $"Attempt must be at least 1 (was {request.Attempt})";
        }
        // gateway-admin refuses these with 400; a message that reaches the bus another way is refused here.
        if (RunnerOwnedVariables.FirstIn(request.Parameters.Keys) is { } owned)
        {
            return RunnerOwnedVariables.Problem(owned);
        }
        return null;
    }

    /// <summary>
    /// <c>routeiq-train-{trainer}-{short job id}</c>, plus the attempt after the first (a
    /// re-dispatched attempt may land on the same Docker host).
    /// </summary>
    public static string WorkloadName(TrainRequested request)
    {
        var name = $"routeiq-train-{Sanitize(request.Trainer)}-{ShortId(request.JobId)}";
        return request.Attempt > 1 ? $"{name}-{request.Attempt}" : name;
    }

    /// <summary>
    /// 12 hex digits of a digest of the job id. Not a prefix of the id: gateway-admin's ids are
    /// sequential (MassTransit NewId), so jobs created together share their leading digits. The
    /// full id is on the <c>routeiq.job-id</c> label.
    /// </summary>
    public static string ShortId(Guid jobId) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(jobId.ToByteArray()))[..12];

    private static string Sanitize(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text.ToLowerInvariant())
        {
            builder.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-');
        }
        return builder.Length == 0 ? "trainer" : builder.ToString();
    }

    private static List<(string Full, string Relative)> ListOutputs(string directory) =>
        Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
                .Select(f => (f, Path.GetRelativePath(directory, f).Replace(Path.DirectorySeparatorChar, '/')))
                .OrderBy(f => f.Item2, StringComparer.Ordinal)
                .ToList()
            : [];

    private async Task<IReadOnlyDictionary<string, double>> ReadMetricsAsync(RunningJob job)
    {
        var path = Path.Combine(job.OutputDirectory, MetricsFile);
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        if (!File.Exists(path))
        {
            return metrics;
        }
        try
        {
            await using var stream = File.OpenRead(path);
            using var document = await JsonDocument.ParseAsync(stream).ConfigureAwait(false);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                LogBadMetrics(job.JobId, "not a JSON object");
                return metrics;
            }
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.Number && property.Value.TryGetDouble(out var value))
                {
                    metrics[property.Name] = value;
                }
            }
        }
        catch (JsonException e)
        {
            LogBadMetrics(job.JobId, e.Message);
        }
        return metrics;
    }

    private async Task<string> UploadLogAsync(Guid jobId, string log)
    {
        using var content = new MemoryStream(Encoding.UTF8.GetBytes(log));
        await store.PutAsync(ArtifactKeys.RunLogs(jobId), content).ConfigureAwait(false);
        return store.GetUri(ArtifactKeys.RunLogs(jobId));
    }

    private async Task StartMlflowRunAsync(RunningJob job, CancellationToken cancellationToken)
    {
        if (mlflow is null)
        {
            return;
        }
        var request = job.Request;
        var experiment = request.Environment.GetValueOrDefault("MLFLOW_EXPERIMENT") is { Length: > 0 } fromSpec
            ? fromSpec
            : mlflowSettings.Experiment ?? request.Trainer;
        try
        {
            var experimentId = await mlflow.GetOrCreateExperimentAsync(experiment, cancellationToken).ConfigureAwait(false);
            job.MlflowRunId = await mlflow.CreateRunAsync(experimentId, job.WorkloadName, new Dictionary<string, string>
            {
                ["request_id"] = request.JobId.ToString(),
                ["trainer"] = request.Trainer,
                ["container_name"] = job.WorkloadName,
            }, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or MlflowException or TaskCanceledException or JsonException)
        {
            // MLflow mirrors our registry; its outage must not stop training.
            LogMlflowFailed(e, request.JobId, "create run");
        }
    }

    private async Task EndMlflowRunAsync(RunningJob job, string status)
    {
        if (mlflow is null || job.MlflowRunId is not { } runId)
        {
            return;
        }
        try
        {
            await mlflow.EndRunAsync(runId, status, time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or MlflowException or TaskCanceledException or JsonException)
        {
            LogMlflowFailed(e, job.JobId, "end run");
        }
    }

    private async Task<string?> FindMlflowVersionAsync(RunningJob job, string modelName)
    {
        if (mlflow is null || job.MlflowRunId is not { } runId)
        {
            return null;
        }
        try
        {
            return await mlflow.FindModelVersionAsync(modelName, runId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or MlflowException or TaskCanceledException or JsonException)
        {
            LogMlflowFailed(e, job.JobId, "find model version");
            return null;
        }
    }

    private void DeleteDirectory(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogCleanupFailed(e, directory);
        }
    }

    [LoggerMessage(LogLevel.Warning, "Refused TrainRequested {JobId}: {Problem}")]
    private partial void LogInvalid(Guid jobId, string problem);

    [LoggerMessage(LogLevel.Information, "Ignored duplicate TrainRequested {JobId} attempt {Attempt} on {Node}")]
    private partial void LogDuplicate(Guid jobId, int attempt, string node);

    [LoggerMessage(LogLevel.Information, "Job {JobId} was cancelled before it started on {Node}")]
    private partial void LogCancelledBeforeStart(Guid jobId, string node);

    [LoggerMessage(LogLevel.Warning, "Job {JobId} asks for {Gpus} GPUs; node {Node} has {NodeGpus}: handed back")]
    private partial void LogCannotRun(Guid jobId, int gpus, string node, int nodeGpus);

    [LoggerMessage(LogLevel.Warning, "Job {JobId} could not be launched on {Node}")]
    private partial void LogLaunchFailed(Exception e, Guid jobId, string node);

    [LoggerMessage(LogLevel.Information, "Job {JobId} attempt {Attempt} started on {Node} as {Workload} ({Launcher})")]
    private partial void LogStarted(Guid jobId, int attempt, string node, string workload, string launcher);

    [LoggerMessage(LogLevel.Information, "Job {JobId} completed on {Node}: {Files} files, model {Model}")]
    private partial void LogCompleted(Guid jobId, string node, int files, string model);

    [LoggerMessage(LogLevel.Information, "Job {JobId} failed on {Node}: {Reason}")]
    private partial void LogFailed(Guid jobId, string node, string reason);

    [LoggerMessage(LogLevel.Information, "Job {JobId} cancelled on {Node}")]
    private partial void LogCancelled(Guid jobId, string node);

    [LoggerMessage(LogLevel.Information, "Cancelling job {JobId} on {Node}: {Reason}")]
    private partial void LogCancelling(Guid jobId, string node, string? reason);

    [LoggerMessage(LogLevel.Warning, "Job {JobId} handed back by {Node} (shutting down)")]
    private partial void LogHandedBack(Guid jobId, string node);

    [LoggerMessage(LogLevel.Information, "Node {Node} shutting down with {Running} running jobs; waiting up to {Grace} s")]
    private partial void LogDraining(string node, int running, double grace);

    [LoggerMessage(LogLevel.Error, "Job {JobId} on {Node}: runner error")]
    private partial void LogRunnerError(Exception e, Guid jobId, string node);

    [LoggerMessage(LogLevel.Error, "Job {JobId}: could not publish its failure")]
    private partial void LogPublishFailed(Exception e, Guid jobId);

    [LoggerMessage(LogLevel.Information, "Job {JobId}: dataset {Dataset} staged ({Files} files) in {Directory}")]
    private partial void LogDatasetStaged(Guid jobId, string dataset, int files, string directory);

    [LoggerMessage(LogLevel.Warning, "Job {JobId}: live output not published")]
    private partial void LogStreamFailed(Exception e, Guid jobId);

    [LoggerMessage(LogLevel.Warning, "Job {JobId}: heartbeat not published")]
    private partial void LogHeartbeatFailed(Exception e, Guid jobId);

    [LoggerMessage(LogLevel.Warning, "Job {JobId}: metrics.json ignored: {Problem}")]
    private partial void LogBadMetrics(Guid jobId, string problem);

    [LoggerMessage(LogLevel.Warning, "Job {JobId}: MLflow {Call} failed")]
    private partial void LogMlflowFailed(Exception e, Guid jobId, string call);

    [LoggerMessage(LogLevel.Warning, "Could not delete {Directory}")]
    private partial void LogCleanupFailed(Exception e, string directory);
}

/// <summary><c>MLFLOW_TRACKING_URI</c> / <c>MLFLOW_EXPERIMENT</c>; MLflow is used only when the URI is set.</summary>
public sealed record MlflowSettings(string? TrackingUri, string? Experiment);
