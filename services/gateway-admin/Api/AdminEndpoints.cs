using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using MassTransit;
using Microsoft.Extensions.Options;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.GatewayAdmin.Specs;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Api;

public static class AdminEndpoints
{
    public static IEndpointRouteBuilder MapAdminEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var admin = endpoints.MapGroup("/admin").WithTags("admin").RequireApiKey(ApiKeyAuthentication.AdminPolicy);

        admin.MapPost("/train/{trainer}", TrainAsync).DescribeBody(typeof(TrainRequest))
            .WithName("Train").WithSummary("Launch a trainer and wait for it (Prefer: respond-async → 202 at once)");
        admin.MapPost("/train_then_roll/{trainer}", TrainThenRollAsync).DescribeBody(typeof(TrainRequest))
            .WithName("TrainThenRoll").WithSummary("Train, and roll the produced version out if training succeeds");
        admin.MapPost("/roll", RollAsync).DescribeBody(typeof(RollRequest))
            .WithName("Roll").WithSummary("Roll an existing version (ref: @alias or integer version) out behind the stable endpoint");
        admin.MapPost("/rollback", RollbackAsync).DescribeBody(typeof(RollbackRequest))
            .WithName("Rollback").WithSummary("Roll back to the previous deployment (twice toggles)");
        admin.MapGet("/jobs", ListJobsAsync).WithName("ListJobs").WithSummary("Jobs, newest first (filter by trainer, state, kind)");
        admin.MapGet("/jobs/{id:guid}", GetJobAsync).WithName("GetJob").WithSummary("One job: state, timestamps, request, result or error");
        admin.MapDelete("/jobs/{id:guid}", CancelJobAsync).WithName("CancelJob").WithSummary("Cancel a train job: its workload is stopped and removed");
        admin.MapGet("/jobs/{id:guid}/logs", GetLogsAsync).Produces<string>(StatusCodes.Status200OK, "text/plain")
            .Produces<ApiProblemDocument>(StatusCodes.Status404NotFound, ApiProblems.ContentType)
            .WithName("GetJobLogs").WithSummary("The job's log (tail while running; ?follow=true streams until it ends)");
        admin.MapGet("/deployments", GetDeploymentsAsync).WithName("ListDeployments").WithSummary("Deployment history, newest first");
        admin.MapGet("/trainers", GetTrainers).WithName("ListTrainers").WithSummary("Trainer specs in force (secrets redacted) and load errors");
        admin.MapRoutingConfigEndpoint();
        admin.MapRolloutsEndpoints();
        admin.MapEvaluationEndpoints();

        endpoints.MapGet("/status", GetStatusAsync).WithTags("status").WithName("Status").WithSummary("The active deployment");
        return endpoints;
    }

    private static bool WantsAsync(HttpRequest request)
        => request.Headers["Prefer"].Any(p => p is not null && p.Contains("respond-async", StringComparison.OrdinalIgnoreCase))
            || string.Equals(request.Query["async"], "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>The key was first used for a different request (other route or body): 422 naming the job it belongs to.</summary>
    private static ApiProblem IdempotencyConflict(IdempotencyConflictException ex)
        => ApiProblems.Create(422, "Idempotency-Key reused for a different request",
            [new("field", Idempotency.Header), new("job_id", ex.Existing.Id), new("kind", ex.Existing.Kind)],
            "the key binds the method, route and body of the request it first came with; send a new key for a new request");

    /// <summary>What the train and roll endpoints need besides the request, bound as one parameter (<see cref="AsParametersAttribute"/>).</summary>
    internal sealed record JobRequestServices(
        JobLedger Ledger, JobWaitService Waiter, TrainerSpecStore Specs, IConfiguration Configuration, IArtifactStore Store,
        TimeProvider Time, IOptions<AdminOptions> Admin);

    [ApiProblemStatuses(400, 404, 413, 422, 500, 503)]
    private static Task<Results<Ok<TrainResponse>, Accepted<JobSummary>, ApiProblem, EmptyHttpResult>> TrainAsync(
        string trainer, HttpRequest request, [AsParameters] JobRequestServices services)
        => StartTrainAsync(trainer, request, services, thenRoll: false);

    [ApiProblemStatuses(400, 404, 409, 413, 422, 500, 503)]
    private static Task<Results<Ok<TrainResponse>, Accepted<JobSummary>, ApiProblem, EmptyHttpResult>> TrainThenRollAsync(
        string trainer, HttpRequest request, [AsParameters] JobRequestServices services)
        => StartTrainAsync(trainer, request, services, thenRoll: true);

    private static async Task<Results<Ok<TrainResponse>, Accepted<JobSummary>, ApiProblem, EmptyHttpResult>> StartTrainAsync(
        string trainer, HttpRequest request, JobRequestServices services, bool thenRoll)
    {
        var (json, problem) = await RequestBodies.ReadAsync(request, request.HttpContext.RequestAborted);
        if (problem is not null)
        {
            return problem;
        }
        var (body, bodyProblem) = RequestBodies.ParseTrain(json);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }
        var (idempotency, keyProblem) = Idempotency.Read(request, json);
        if (keyProblem is not null)
        {
            return keyProblem;
        }
        var (resolved, error) = TrainRequestResolver.Resolve(services.Specs.Current.Trainers, trainer, body!, name => services.Configuration[name]);
        if (error is not null)
        {
            return ApiProblems.Create(error.StatusCode, error.Error, error.Fields);
        }

        if (string.IsNullOrWhiteSpace(resolved!.DatasetUri)
            && await LatestDataset.FindAsync(services.Store, request.HttpContext.RequestAborted) is { } latest)
        {
            resolved = resolved with { DatasetUri = latest };
        }

        var admin = services.Admin.Value;
        var rollOnSuccess = thenRoll || resolved!.AutoRoll;
        // Never the request's token: a client that goes away does not take the job with it.
        JobLedger.CreateResult created;
        try
        {
            created = await services.Ledger.CreateTrainJobAsync(resolved!, RequestBodies.Redacted(json), rollOnSuccess,
                alias: null, waitReadySeconds: admin.DefaultWaitReadySeconds, idempotency, CancellationToken.None);
        }
        catch (IdempotencyConflictException ex)
        {
            return IdempotencyConflict(ex);
        }

        var maxWait = TimeSpan.FromSeconds(resolved!.TimeoutSeconds + admin.SyncGraceSeconds + (rollOnSuccess ? admin.RollGraceSeconds : 0))
            + (rollOnSuccess ? RolloutsPromotion.LongestTraffic(resolved.Promotion) : TimeSpan.Zero);
        return await RespondAsync(request, services.Waiter, created.Job, maxWait,
            body => rollOnSuccess ? Read<TrainThenRollResponse>(body) : Read<TrainResponse>(body));
    }

    [ApiProblemStatuses(400, 404, 409, 413, 422, 503)]
    private static Task<Results<Ok<RollResponse>, Accepted<JobSummary>, ApiProblem, EmptyHttpResult>> RollAsync(
        HttpRequest request, [AsParameters] JobRequestServices services)
        => StartRollAsync(request, services, rollback: false);

    [ApiProblemStatuses(400, 409, 413, 422, 503)]
    private static Task<Results<Ok<RollResponse>, Accepted<JobSummary>, ApiProblem, EmptyHttpResult>> RollbackAsync(
        HttpRequest request, [AsParameters] JobRequestServices services)
        => StartRollAsync(request, services, rollback: true);

    private static async Task<Results<Ok<RollResponse>, Accepted<JobSummary>, ApiProblem, EmptyHttpResult>> StartRollAsync(
        HttpRequest request, JobRequestServices services, bool rollback)
    {
        var (json, problem) = await RequestBodies.ReadAsync(request, request.HttpContext.RequestAborted);
        if (problem is not null)
        {
            return problem;
        }
        var admin = services.Admin.Value;
        var (body, bodyProblem) = RequestBodies.ParseRoll(json, rollback, admin.DefaultWaitReadySeconds);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }
        var (idempotency, keyProblem) = Idempotency.Read(request, json);
        if (keyProblem is not null)
        {
            return keyProblem;
        }
        var message = new RollRequested
        {
            JobId = NewId.NextSequentialGuid(),
            ModelName = body!.Name,
            Ref = rollback ? null : body.Ref,
            ServeImage = body.ServeImage,
            WaitReadySeconds = body.WaitReadySeconds,
            Alias = body.Alias,
            IsRollback = rollback,
            Promotion = body.Promotion,
            RequestedAt = services.Time.GetUtcNow(),
        };
        JobLedger.CreateResult created;
        try
        {
            created = await services.Ledger.CreateRollJobAsync(message, RequestBodies.Redacted(json), idempotency, CancellationToken.None);
        }
        catch (IdempotencyConflictException ex)
        {
            return IdempotencyConflict(ex);
        }
        return await RespondAsync(request, services.Waiter, created.Job,
            TimeSpan.FromSeconds(body.WaitReadySeconds + admin.SyncGraceSeconds) + RolloutsPromotion.LongestTraffic(body.Promotion),
            Read<RollResponse>, RolloutsPromotion.HasTraffic(body.Promotion) ? RolloutsEndpoints.Location(created.Job.Id) : null);
    }

    private static T Read<T>(JsonObject body) => body.Deserialize<T>(ApiJson.Options)!;

    private static async Task<Results<Ok<T>, Accepted<JobSummary>, ApiProblem, EmptyHttpResult>> RespondAsync<T>(
        HttpRequest request, JobWaitService waiter, Job job, TimeSpan maxWait, Func<JsonObject, T> read, string? location = null)
    {
        if (WantsAsync(request))
        {
            return Accepted(job, location);
        }
        Job? latest;
        try
        {
            latest = await waiter.WaitAsync(job.Id, maxWait, request.HttpContext.RequestAborted);
        }
        catch (OperationCanceledException) when (request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            // The client left; the job goes on and stays in the ledger.
            return TypedResults.Empty;
        }
        if (latest is null || !JobStates.IsTerminal(latest.State))
        {
            return Accepted(latest ?? job, location);
        }
        var (status, body) = JobDocuments.Outcome(latest);
        return status == 200
            ? TypedResults.Ok(read(body))
            : ApiProblems.FromBody(status, body["error"]?.GetValue<string>() ?? "job failed", body);
    }

    private static Accepted<JobSummary> Accepted(Job job, string? location = null)
        => TypedResults.Accepted(location ?? JobDocuments.Location(job.Id), JobDocuments.Summary(job));

    private static async Task<Results<Ok<JobList>, ApiProblem>> ListJobsAsync(JobLedger ledger, IOptions<AdminOptions> options,
        string? trainer, string? state, string? kind, int? limit, CancellationToken cancellationToken)
    {
        if (state is not null && !JobStates.All.Contains(state))
        {
            return ApiProblems.Create(400, $"unknown state '{state}'", [new("field", "state"), new("allowed", JobStates.All)]);
        }
        if (LimitProblem(limit, options.Value) is { } problem)
        {
            return problem;
        }
        var jobs = await ledger.ListAsync(trainer, state, kind, limit ?? options.Value.DefaultListLimit, cancellationToken);
        return TypedResults.Ok(new JobList(jobs.Select(JobDocuments.Describe).ToList()));
    }

    /// <summary>A list's <c>limit</c> out of range (1..<see cref="AdminOptions.MaxListLimit"/>).</summary>
    internal static ApiProblem? LimitProblem(int? limit, AdminOptions options)
        => limit < 1 || limit > options.MaxListLimit ? ApiProblems.Field("limit", $"limit must be between 1 and {options.MaxListLimit}") : null;

    [ApiProblemStatuses(404)]
    private static async Task<Results<Ok<JobDocument>, ApiProblem>> GetJobAsync(Guid id, JobLedger ledger, CancellationToken cancellationToken)
        => await ledger.GetAsync(id, cancellationToken) is { } job
            ? TypedResults.Ok(JobDocuments.Describe(job))
            : JobNotFound(id);

    private static ApiProblem JobNotFound(Guid id) => ApiProblems.Create(404, "job not found", [new("job_id", id)]);

    [ApiProblemStatuses(404, 409)]
    private static async Task<Results<Ok<JobDocument>, ApiProblem>> CancelJobAsync(Guid id, JobLedger ledger)
    {
        var (job, problem) = await ledger.CancelAsync(id, CancellationToken.None);
        if (job is null)
        {
            return JobNotFound(id);
        }
        return problem is not null
            ? ApiProblems.Create(409, problem, [new("job_id", id), new("state", job.State)])
            : TypedResults.Ok(JobDocuments.Describe(job));
    }

    private static async Task GetLogsAsync(Guid id, bool? follow, HttpContext context, JobLedger ledger, IArtifactStore store, JobWaiters waiters,
        JobLogStreams streams)
    {
        var cancellationToken = context.RequestAborted;
        var job = await ledger.GetAsync(id, cancellationToken);
        if (job is null)
        {
            await JobNotFound(id).ExecuteAsync(context);
            return;
        }
        context.Response.ContentType = "text/plain; charset=utf-8";
        if (JobStates.IsTerminal(job.State) || follow != true)
        {
            await WriteFinalOrTailAsync(context, job, store, streams, cancellationToken);
            return;
        }

        // Follow: the runner's live output (TrainLogAppended, by offset) as it arrives; where this replica has none
        // (a runner that does not stream, a replica started mid-job), the tails heartbeats carry. Until the job ends.
        var follower = new LogFollower();
        while (!cancellationToken.IsCancellationRequested)
        {
            var change = waiters.NextChange(id);
            var output = streams.NextOutput(id);
            try
            {
                job = await ledger.GetAsync(id, cancellationToken);
                if (job is null || JobStates.IsTerminal(job.State))
                {
                    break;
                }
                var fresh = follower.Next(streams.ReadFrom(id, follower.Attempt, follower.Offset), job.LogTail);
                if (fresh.Length > 0)
                {
                    await context.Response.WriteAsync(fresh, cancellationToken);
                    await context.Response.Body.FlushAsync(cancellationToken);
                }
                // Heartbeats announce no state change, so without live output look again every second.
                await Task.WhenAny(change, output, Task.Delay(TimeSpan.FromSeconds(1), cancellationToken));
            }
            catch (OperationCanceledException)
            {
                return;
            }
            finally
            {
                waiters.Release(id, change);
            }
        }
        if (job is not null && !cancellationToken.IsCancellationRequested)
        {
            var final = await ReadFullLogAsync(job, store, cancellationToken) ?? job.LogTail ?? "";
            await context.Response.WriteAsync(follower.Rest(final), cancellationToken);
        }
    }

    /// <summary>What a follower has written: by offset into the live output once it has any, else the last tail.</summary>
    internal sealed class LogFollower
    {
        private const int KeepChars = 4096;
        private string _written = "";

        public int Attempt { get; private set; }
        public long? Offset { get; private set; }

        /// <summary>The text to write now, from live output when there is some, else from the heartbeat tail.</summary>
        public string Next(JobLogStreams.Read? live, string? tail)
        {
            string fresh;
            if (live is { } read)
            {
                // The first live read (or a new attempt) is matched against what the tails already showed.
                fresh = Offset is not null && read.Attempt == Attempt ? read.Text : NewText(_written, read.Text);
                Attempt = read.Attempt;
                Offset = read.Next;
            }
            else
            {
                fresh = NewText(_written, tail ?? "");
            }
            Remember(fresh);
            return fresh;
        }

        /// <summary>The end of the stored log that was not written yet.</summary>
        public string Rest(string final)
        {
            if (Offset is { } offset && !final.StartsWith(TrainLogAppended.TruncatedMarker, StringComparison.Ordinal) && offset <= final.Length)
            {
                return final[(int)offset..];
            }
            if (_written.Length == 0)
            {
                return final;
            }
            // Where the last written characters occur in the stored log; what follows is new.
            var probe = _written.Length > 1024 ? _written[^1024..] : _written;
            var at = final.LastIndexOf(probe, StringComparison.Ordinal);
            return at >= 0 ? final[(at + probe.Length)..] : NewText(_written, final);
        }

        private void Remember(string fresh)
        {
            if (fresh.Length == 0)
            {
                return;
            }
            _written += fresh;
            if (_written.Length > KeepChars)
            {
                _written = _written[^KeepChars..];
            }
        }
    }

    /// <summary>The part of <paramref name="now"/> after what was written (tails overlap, so match the longest suffix of what was written).</summary>
    internal static string NewText(string written, string now)
    {
        if (written.Length == 0)
        {
            return now;
        }
        if (now.StartsWith(written, StringComparison.Ordinal))
        {
            return now[written.Length..];
        }
        for (var keep = Math.Min(written.Length, now.Length); keep > 0; keep--)
        {
            if (now.AsSpan(0, keep).SequenceEqual(written.AsSpan(written.Length - keep)))
            {
                return now[keep..];
            }
        }
        return now;
    }

    /// <summary>How much of the live output a plain (not following) GET of a running job's log returns.</summary>
    private const int LiveTailChars = 16 * 1024;

    private static async Task WriteFinalOrTailAsync(HttpContext context, Job job, IArtifactStore store, JobLogStreams streams,
        CancellationToken cancellationToken)
    {
        var text = JobStates.IsTerminal(job.State)
            ? await ReadFullLogAsync(job, store, cancellationToken)
            // While running: the live output this replica has (fresher than the last heartbeat's tail), its end.
            : streams.ReadFrom(job.Id, job.Attempt, null) is { Text.Length: > 0 } live ? live.Text[^Math.Min(live.Text.Length, LiveTailChars)..] : null;
        text ??= job.LogTail ?? LedgerJson.Parse(job.ErrorJson)?["logs_tail"]?.GetValue<string>() ?? "";
        await context.Response.WriteAsync(text, cancellationToken);
    }

    private static async Task<string?> ReadFullLogAsync(Job job, IArtifactStore store, CancellationToken cancellationToken)
    {
        if (job.Kind != JobKinds.Train)
        {
            return null;
        }
        try
        {
            var key = ArtifactKeys.RunLogs(job.Id);
            if (!await store.ExistsAsync(key, cancellationToken))
            {
                return null;
            }
            await using var stream = await store.OpenReadAsync(key, cancellationToken);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return await reader.ReadToEndAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [ApiProblemStatuses(400, 503)]
    private static async Task<Results<Ok<DeploymentList>, ApiProblem>> GetDeploymentsAsync(string? name, int? limit, IRequestClient<GetDeploymentHistory> client,
        IOptions<AdminOptions> options, CancellationToken cancellationToken)
    {
        if (LimitProblem(limit, options.Value) is { } problem)
        {
            return problem;
        }
        try
        {
            var response = await client.GetResponse<DeploymentHistory>(new GetDeploymentHistory { ModelName = name, Limit = limit ?? options.Value.DefaultListLimit },
                cancellationToken, RequestTimeout.After(s: options.Value.RolloutAnswerSeconds));
            return TypedResults.Ok(new DeploymentList(response.Message.Deployments));
        }
        catch (RequestTimeoutException)
        {
            return RolloutUnavailable();
        }
    }

    internal static ApiProblem RolloutUnavailable()
        => ApiProblems.Create(503, "rollout service did not answer", [new("service", "rollout")]);

    [ApiProblemStatuses(503)]
    private static async Task<Results<Ok<StatusResponse>, ApiProblem>> GetStatusAsync(IRequestClient<GetActiveDeployment> client, IHttpClientFactory http,
        AdminAuth auth, IOptions<AdminOptions> options, HttpRequest request, string? name, CancellationToken cancellationToken)
    {
        // Unauthenticated callers see the deployment, not where its files live (paths under the data dir, internal URLs).
        var details = auth.IsAuthorized(request);
        ActiveDeployment active;
        try
        {
            active = (await client.GetResponse<ActiveDeployment>(new GetActiveDeployment { ModelName = name }, cancellationToken,
                RequestTimeout.After(s: options.Value.RolloutAnswerSeconds))).Message;
        }
        catch (RequestTimeoutException)
        {
            return RolloutUnavailable();
        }
        // Nothing deployed is a normal state of a fresh install, not a missing resource: 200 with active=false.
        if (active.Deployment is not { } d)
        {
            return TypedResults.Ok(new StatusResponse { ModelName = name });
        }
        var healthy = await ProbeAsync(http, d.ServerUrl ?? d.PublicUrl, options.Value.ProbeSeconds, cancellationToken) ?? d.Healthy ?? false;
        return TypedResults.Ok(new StatusResponse
        {
            Active = d.Active,
            Url = details ? d.ServerUrl : null,
            PublicUrl = d.PublicUrl,
            Healthy = healthy,
            ModelName = d.ModelName,
            ModelUri = details ? d.ModelUri : null,
            ModelVersion = d.Version,
            ModelAlias = d.Alias,
            ServeImage = d.ServeImage,
            DeployedAt = d.DeployedAt,
            Previous = d.PreviousVersion is { } pv ? new PreviousDeployment(d.PreviousModelName ?? d.ModelName, pv) : null,
            DeploymentId = d.DeploymentId,
        });
    }

    /// <summary>A live probe of the serving endpoint's <c>/ping</c>; null when there is nothing to probe.</summary>
    private static async Task<bool?> ProbeAsync(IHttpClientFactory http, string? url, int seconds, CancellationToken cancellationToken)
    {
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var baseUri))
        {
            return null;
        }
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(seconds));
            using var response = await http.CreateClient(GatewayAdminExtensions.ProbeClient).GetAsync(new Uri(baseUri, "/ping"), cts.Token);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            return false;
        }
    }

    private static Ok<TrainerList> GetTrainers(TrainerSpecStore store)
    {
        var snapshot = store.Current;
        var trainers = new SortedDictionary<string, TrainerView>(StringComparer.Ordinal);
        foreach (var spec in snapshot.Trainers.Values)
        {
            trainers[spec.Name] = new TrainerView
            {
                File = Redact(spec.SourceFile),
                Line = spec.Line,
                TrainerImage = Redact(spec.TrainerImage),
                ImageOptions = Redact(spec.ImageOptions),
                ServeImage = Redact(spec.ServeImage),
                ServeImageOptions = Redact(spec.ServeImageOptions),
                Timeout = spec.TimeoutSeconds,
                Gpus = spec.Gpus,
                Env = EnvironmentNames.Redact(spec.Env).ToDictionary(kv => kv.Key, kv => Redact(kv.Value)),
                ModelName = Redact(spec.ModelName),
                Command = spec.Command?.Select(Redact).ToList()!,
                ServeCommand = spec.ServeCommand?.Select(Redact).ToList()!,
                Dataset = Redact(spec.Dataset),
                AutoRoll = spec.AutoRoll,
                Resources = spec.Resources,
            };
        }
        var errors = snapshot.Errors.Select(e => new TrainerSpecError(Redact(e.File)!, e.Line, e.Column, Redact(e.Reason)!, Redact(e.ToString())!)).ToList();
        return TypedResults.Ok(new TrainerList(store.Path, trainers, errors));
    }

    /// <summary>Spec values are shown redacted by value (a credential pasted into an image name or a command).</summary>
    private static string? Redact(string? value) => value is null ? null : SecretRedaction.RedactValue(value);

    private static Dictionary<string, string>? Redact(IReadOnlyDictionary<string, string>? map)
        => map?.ToDictionary(kv => kv.Key, kv => SecretRedaction.RedactValue(kv.Value));
}
