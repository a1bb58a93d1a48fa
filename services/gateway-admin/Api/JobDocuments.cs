using System.Text.Json.Nodes;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>How a job looks to clients: the job document, and the compatible response of a finished request.</summary>
public static class JobDocuments
{
    /// <summary>The idempotency fingerprint hashes the unredacted body: it is compared, never shown.</summary>
    private static JsonObject? WithoutFingerprint(JsonObject? resolved)
    {
        resolved?.Remove(JobLedger.FingerprintProperty);
        return resolved;
    }

    public static string Location(Guid id) => $"/admin/jobs/{id}";

    /// <summary>What a 202 carries: enough to follow the job (<c>GET</c> the location for everything).</summary>
    public static JobSummary Summary(Job job)
        => new(job.Id, job.Kind, job.Trainer, job.ModelName, job.State, job.Attempt, job.CreatedAt, Location(job.Id), $"{Location(job.Id)}/logs");

    /// <summary>The job document; secrets redacted by name (parameters, environment) and by value (everywhere), also in rows stored before value redaction.</summary>
    public static JobDocument Describe(Job job)
    {
        var outcome = Outcome(job);
        var request = LedgerJson.Parse(job.RequestJson);
        var resolved = WithoutFingerprint(LedgerJson.Parse(job.ResolvedJson));
        SecretRedaction.RedactNamedValues(request?["parameters"] as JsonObject);
        SecretRedaction.RedactNamedValues(resolved?["environment"] as JsonObject);
        SecretRedaction.RedactNamedValues(resolved?["parameters"] as JsonObject);
        return new JobDocument
        {
            JobId = job.Id,
            Kind = job.Kind,
            Trainer = Redacted(job.Trainer),
            ModelName = Redacted(job.ModelName),
            State = job.State,
            Phase = job.Phase,
            Attempt = job.Attempt,
            CreatedAt = job.CreatedAt,
            StartedAt = job.StartedAt,
            LastHeartbeatAt = job.LastHeartbeatAt,
            FinishedAt = job.FinishedAt,
            Node = Redacted(job.Node),
            Workload = Redacted(job.WorkloadName),
            Request = Redacted(request),
            Resolved = Redacted(resolved),
            Result = job.State == JobStates.Succeeded ? Redacted(outcome.Body) : null,
            Error = job.State == JobStates.Succeeded ? null : job.ErrorJson is null ? null : Redacted(outcome.Body),
            StatusCode = job.ErrorJson is null ? null : outcome.Status,
            Location = Location(job.Id),
            Logs = $"{Location(job.Id)}/logs",
        };
    }

    private static string? Redacted(string? value) => value is null ? null : SecretRedaction.RedactValue(value);

    private static JsonObject? Redacted(JsonObject? value) => (JsonObject?)SecretRedaction.RedactStrings(value);

    /// <summary>The response a synchronous request gets for a finished job: status code and body.</summary>
    public static (int Status, JsonObject Body) Outcome(Job job)
    {
        var train = LedgerJson.Parse(job.TrainResultJson);
        var roll = LedgerJson.Parse(job.RollResultJson);
        var error = LedgerJson.Parse(job.ErrorJson);

        if (job.Kind == JobKinds.Train)
        {
            if (error is not null && train is not null)
            {
                return (job.StatusCode ?? 500, new JsonObject
                {
                    ["error"] = "rollout failed after successful training",
                    ["training"] = WithRoll(train, job, null),
                    ["rollout_error"] = error["error"]?.DeepClone(),
                    ["rollout_status"] = job.StatusCode,
                    ["job_id"] = job.Id,
                });
            }
            if (error is not null)
            {
                return (job.StatusCode ?? 500, error);
            }
            return (200, WithRoll(train ?? new JsonObject { ["job_id"] = job.Id }, job, roll));
        }

        if (error is not null)
        {
            error["job_id"] ??= job.Id;
            return (job.StatusCode ?? 500, error);
        }
        var body = new JsonObject();
        foreach (var key in new[] { "active", "url", "public_url", "name", "version", "alias", "model_uri", "serve_image" })
        {
            body[key] = roll?[key]?.DeepClone();
        }
        body["job_id"] = job.Id;
        body["is_rollback"] = job.Kind == JobKinds.Rollback;
        return (200, body);
    }

    private static JsonObject WithRoll(JsonObject train, Job job, JsonObject? roll)
    {
        var body = (JsonObject)train.DeepClone();
        if (job.RollOnSuccess)
        {
            body["rolled"] = roll?["active"] is not null;
            body["alias"] = roll?["alias"]?.DeepClone();
            body["public_url"] = roll?["public_url"]?.DeepClone();
        }
        return body;
    }
}
