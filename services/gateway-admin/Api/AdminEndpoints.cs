using System.Text;
using System.Text.Json.Nodes;
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
        var admin = endpoints.MapGroup("/admin").WithTags("admin").RequireAuthorization(ApiKeyAuthentication.AdminPolicy);

        admin.MapPost("/train/{trainer}", (string trainer, HttpContext context) => TrainAsync(trainer, context, thenRoll: false))
            .WithName("Train").WithSummary("Launch a trainer and wait for it (Prefer: respond-async → 202 at once)");
        admin.MapPost("/train_then_roll/{trainer}", (string trainer, HttpContext context) => TrainAsync(trainer, context, thenRoll: true))
            .WithName("TrainThenRoll").WithSummary("Train, and roll the produced version out if training succeeds");
        admin.MapPost("/roll", (Delegate)((HttpContext context) => RollAsync(context, rollback: false)))
            .WithName("Roll").WithSummary("Roll an existing version (ref: @alias or integer version) out behind the stable endpoint");
        admin.MapPost("/rollback", (Delegate)((HttpContext context) => RollAsync(context, rollback: true)))
            .WithName("Rollback").WithSummary("Roll back to the previous deployment (twice toggles)");
        admin.MapGet("/jobs", ListJobsAsync).WithName("ListJobs").WithSummary("Jobs, newest first (filter by trainer, state, kind)");
        admin.MapGet("/jobs/{id:guid}", GetJobAsync).WithName("GetJob").WithSummary("One job: state, timestamps, request, result or error");
        admin.MapDelete("/jobs/{id:guid}", CancelJobAsync).WithName("CancelJob").WithSummary("Cancel a train job: its workload is stopped and removed");
        admin.MapGet("/jobs/{id:guid}/logs", GetLogsAsync).WithName("GetJobLogs").WithSummary("The job's log (tail while running; ?follow=true streams until it ends)");
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
    private static IResult IdempotencyConflict(IdempotencyConflictException ex)
        => ApiProblems.Create(422, "Idempotency-Key reused for a different request",
            [new("field", Idempotency.Header), new("job_id", ex.Existing.Id), new("kind", ex.Existing.Kind)],
            "the key binds the method, route and body of the request it first came with; send a new key for a new request");

    private static async Task<IResult> TrainAsync(string trainer, HttpContext context, bool thenRoll)
    {
        var services = context.RequestServices;
        var (json, problem) = await RequestBodies.ReadAsync(context.Request, context.RequestAborted);
        if (problem is not null)
        {
            return problem;
        }
        var (body, bodyProblem) = RequestBodies.ParseTrain(json);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }
        var (idempotency, keyProblem) = Idempotency.Read(context.Request, json);
        if (keyProblem is not null)
        {
            return keyProblem;
        }
        var specs = services.GetRequiredService<TrainerSpecStore>().Current;
        var configuration = services.GetRequiredService<IConfiguration>();
        var (resolved, error) = TrainRequestResolver.Resolve(specs.Trainers, trainer, body!, name => configuration[name]);
        if (error is not null)
        {
            return ApiProblems.Create(error.StatusCode, error.Error, error.Fields);
        }

        if (string.IsNullOrWhiteSpace(resolved!.DatasetUri)
            && await LatestDataset.FindAsync(services.GetRequiredService<IArtifactStore>(), context.RequestAborted) is { } latest)
        {
            resolved = resolved with { DatasetUri = latest };
        }

        var ledger = services.GetRequiredService<JobLedger>();
        var rollOnSuccess = thenRoll || resolved!.AutoRoll;
        // Never the request's token: a client that goes away does not take the job with it.
        JobLedger.CreateResult created;
        try
        {
            created = await ledger.CreateTrainJobAsync(resolved!, RequestBodies.Redacted(json), rollOnSuccess,
                alias: null, waitReadySeconds: 90, idempotency, CancellationToken.None);
        }
        catch (IdempotencyConflictException ex)
        {
            return IdempotencyConflict(ex);
        }

        var admin = services.GetRequiredService<IOptions<AdminOptions>>().Value;
        var maxWait = TimeSpan.FromSeconds(resolved!.TimeoutSeconds + admin.SyncGraceSeconds + (rollOnSuccess ? 150 : 0))
            + (rollOnSuccess ? RolloutsPromotion.LongestTraffic(resolved.Promotion) : TimeSpan.Zero);
        return await RespondAsync(context, created.Job, maxWait);
    }

    private static async Task<IResult> RollAsync(HttpContext context, bool rollback)
    {
        var services = context.RequestServices;
        var (json, problem) = await RequestBodies.ReadAsync(context.Request, context.RequestAborted);
        if (problem is not null)
        {
            return problem;
        }
        var (body, bodyProblem) = RequestBodies.ParseRoll(json, rollback);
        if (bodyProblem is not null)
        {
            return bodyProblem;
        }
        var (idempotency, keyProblem) = Idempotency.Read(context.Request, json);
        if (keyProblem is not null)
        {
            return keyProblem;
        }
        var time = services.GetRequiredService<TimeProvider>();
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
            RequestedAt = time.GetUtcNow(),
        };
        var ledger = services.GetRequiredService<JobLedger>();
        JobLedger.CreateResult created;
        try
        {
            created = await ledger.CreateRollJobAsync(message, RequestBodies.Redacted(json), idempotency, CancellationToken.None);
        }
        catch (IdempotencyConflictException ex)
        {
            return IdempotencyConflict(ex);
        }
        var admin = services.GetRequiredService<IOptions<AdminOptions>>().Value;
        return await RespondAsync(context, created.Job, TimeSpan.FromSeconds(body.WaitReadySeconds + admin.SyncGraceSeconds) + RolloutsPromotion.LongestTraffic(body.Promotion),
            RolloutsPromotion.HasTraffic(body.Promotion) ? RolloutsEndpoints.Location(created.Job.Id) : null);
    }

    private static async Task<IResult> RespondAsync(HttpContext context, Job job, TimeSpan maxWait, string? location = null)
    {
        if (WantsAsync(context.Request))
        {
            return Accepted(job, location);
        }
        var waiter = context.RequestServices.GetRequiredService<JobWaitService>();
        Job? latest;
        try
        {
            latest = await waiter.WaitAsync(job.Id, maxWait, context.RequestAborted);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client left; the job goes on and stays in the ledger.
            return Results.Empty;
        }
        if (latest is null || !JobStates.IsTerminal(latest.State))
        {
            return Accepted(latest ?? job, location);
        }
        var (status, body) = JobDocuments.Outcome(latest);
        return status == 200
            ? Results.Json(body, statusCode: 200)
            : ApiProblems.FromBody(status, body["error"]?.GetValue<string>() ?? "job failed", body);
    }

    private static IResult Accepted(Job job, string? location = null)
    {
        var document = Results.Json(JobDocuments.Summary(job), statusCode: StatusCodes.Status202Accepted);
        return new AcceptedWithLocation(location ?? JobDocuments.Location(job.Id), document);
    }

    private sealed class AcceptedWithLocation(string location, IResult inner) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.Location = location;
            return inner.ExecuteAsync(httpContext);
        }
    }

    private static async Task<IResult> ListJobsAsync(JobLedger ledger, string? trainer, string? state, string? kind, int? limit, CancellationToken cancellationToken)
    {
        if (state is not null && !JobStates.All.Contains(state))
        {
            return ApiProblems.Create(400, $"unknown state '{state}'", [new("field", "state"), new("allowed", JobStates.All)]);
        }
        if (limit is < 1 or > 1000)
        {
            return ApiProblems.Field("limit", "limit must be between 1 and 1000");
        }
        var jobs = await ledger.ListAsync(trainer, state, kind, limit ?? 100, cancellationToken);
        return Results.Json(new JsonObject { ["jobs"] = new JsonArray(jobs.Select(j => (JsonNode)JobDocuments.Describe(j)).ToArray()) });
    }

    private static async Task<IResult> GetJobAsync(Guid id, JobLedger ledger, CancellationToken cancellationToken)
        => await ledger.GetAsync(id, cancellationToken) is { } job
            ? Results.Json(JobDocuments.Describe(job))
            : JobNotFound(id);

    private static IResult JobNotFound(Guid id) => ApiProblems.Create(404, "job not found", [new("job_id", id)]);

    private static async Task<IResult> CancelJobAsync(Guid id, JobLedger ledger)
    {
        var (job, problem) = await ledger.CancelAsync(id, CancellationToken.None);
        if (job is null)
        {
            return JobNotFound(id);
        }
        return problem is not null
            ? ApiProblems.Create(409, problem, [new("job_id", id), new("state", job.State)])
            : Results.Json(JobDocuments.Describe(job));
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

    private static async Task<IResult> GetDeploymentsAsync(string? name, int? limit, IRequestClient<GetDeploymentHistory> client, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > 1000)
        {
            return ApiProblems.Field("limit", "limit must be between 1 and 1000");
        }
        try
        {
            var response = await client.GetResponse<DeploymentHistory>(new GetDeploymentHistory { ModelName = name, Limit = limit ?? 100 }, cancellationToken, RequestTimeout.After(s: 10));
            return Results.Json(new JsonObject
            {
                ["deployments"] = new JsonArray(response.Message.Deployments.Select(d => (JsonNode)LedgerJson.ToObject(d)).ToArray()),
            });
        }
        catch (RequestTimeoutException)
        {
            return RolloutUnavailable();
        }
    }

    private static IResult RolloutUnavailable()
        => ApiProblems.Create(503, "rollout service did not answer", [new("service", "rollout")]);

    private static async Task<IResult> GetStatusAsync(IRequestClient<GetActiveDeployment> client, IHttpClientFactory http, AdminAuth auth, HttpRequest request,
        string? name, CancellationToken cancellationToken)
    {
        // Unauthenticated callers see the deployment, not where its files live (paths under the data dir, internal URLs).
        var details = auth.IsAuthorized(request);
        ActiveDeployment active;
        try
        {
            active = (await client.GetResponse<ActiveDeployment>(new GetActiveDeployment { ModelName = name }, cancellationToken, RequestTimeout.After(s: 10))).Message;
        }
        catch (RequestTimeoutException)
        {
            return RolloutUnavailable();
        }
        // Nothing deployed is a normal state of a fresh install, not a missing resource: 200 with active=false.
        if (active.Deployment is not { } d)
        {
            return Results.Json(new JsonObject
            {
                ["active"] = false, ["url"] = null, ["public_url"] = null, ["healthy"] = false, ["model_name"] = name,
                ["model_uri"] = null, ["model_version"] = null, ["model_alias"] = null, ["serve_image"] = null,
                ["deployed_at"] = null, ["previous"] = null,
            });
        }
        var healthy = await ProbeAsync(http, d.ServerUrl ?? d.PublicUrl, cancellationToken) ?? d.Healthy ?? false;
        return Results.Json(new JsonObject
        {
            ["active"] = d.Active,
            ["url"] = details ? d.ServerUrl : null,
            ["public_url"] = d.PublicUrl,
            ["healthy"] = healthy,
            ["model_name"] = d.ModelName,
            ["model_uri"] = details ? d.ModelUri : null,
            ["model_version"] = d.Version,
            ["model_alias"] = d.Alias,
            ["serve_image"] = d.ServeImage,
            ["deployed_at"] = d.DeployedAt,
            ["previous"] = d.PreviousVersion is { } pv ? new JsonObject { ["name"] = d.PreviousModelName ?? d.ModelName, ["version"] = pv } : null,
            ["deployment_id"] = d.DeploymentId,
        });
    }

    /// <summary>A live probe of the serving endpoint's <c>/ping</c>; null when there is nothing to probe.</summary>
    private static async Task<bool?> ProbeAsync(IHttpClientFactory http, string? url, CancellationToken cancellationToken)
    {
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var baseUri))
        {
            return null;
        }
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            cts.CancelAfter(TimeSpan.FromSeconds(3));
            using var response = await http.CreateClient(GatewayAdminExtensions.ProbeClient).GetAsync(new Uri(baseUri, "/ping"), cts.Token);
            return response.IsSuccessStatusCode;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
        {
            return false;
        }
    }

    private static IResult GetTrainers(TrainerSpecStore store)
    {
        var snapshot = store.Current;
        var trainers = new JsonObject();
        foreach (var spec in snapshot.Trainers.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            trainers[spec.Name] = LedgerJson.ToObject(new
            {
                File = spec.SourceFile,
                spec.Line,
                spec.TrainerImage,
                spec.ImageOptions,
                spec.ServeImage,
                spec.ServeImageOptions,
                Timeout = spec.TimeoutSeconds,
                spec.Gpus,
                Env = EnvironmentNames.Redact(spec.Env),
                spec.ModelName,
                spec.Command,
                spec.ServeCommand,
                spec.Dataset,
                spec.AutoRoll,
                spec.Resources,
            });
        }
        var errors = new JsonArray(snapshot.Errors.Select(e => (JsonNode)new JsonObject
        {
            ["file"] = e.File, ["line"] = e.Line, ["column"] = e.Column, ["reason"] = e.Reason, ["message"] = e.ToString(),
        }).ToArray());
        SecretRedaction.RedactStrings(trainers);
        SecretRedaction.RedactStrings(errors);
        return Results.Json(new JsonObject { ["path"] = store.Path, ["trainers"] = trainers, ["errors"] = errors });
    }
}
