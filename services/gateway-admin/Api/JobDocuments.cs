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
    public static JsonObject Summary(Job job) => new()
    {
        ["job_id"] = job.Id,
        ["kind"] = job.Kind,
        ["trainer"] = job.Trainer,
        ["model_name"] = job.ModelName,
        ["state"] = job.State,
        ["attempt"] = job.Attempt,
        ["created_at"] = job.CreatedAt,
        ["location"] = Location(job.Id),
        ["logs"] = $"{Location(job.Id)}/logs",
    };

    /// <summary>The job document; secrets redacted by name (parameters, environment) and by value (everywhere), also in rows stored before value redaction.</summary>
    public static JsonObject Describe(Job job)
    {
        var outcome = Outcome(job);
        var request = LedgerJson.Parse(job.RequestJson);
        var resolved = WithoutFingerprint(LedgerJson.Parse(job.ResolvedJson));
        SecretRedaction.RedactNamedValues(request?["parameters"] as JsonObject);
        SecretRedaction.RedactNamedValues(resolved?["environment"] as JsonObject);
        SecretRedaction.RedactNamedValues(resolved?["parameters"] as JsonObject);
        var document = new JsonObject
        {
            ["job_id"] = job.Id,
            ["kind"] = job.Kind,
            ["trainer"] = job.Trainer,
            ["model_name"] = job.ModelName,
            ["state"] = job.State,
            ["phase"] = job.Phase,
            ["attempt"] = job.Attempt,
            ["created_at"] = job.CreatedAt,
            ["started_at"] = job.StartedAt,
            ["last_heartbeat_at"] = job.LastHeartbeatAt,
            ["finished_at"] = job.FinishedAt,
            ["node"] = job.Node,
            ["workload"] = job.WorkloadName,
            ["request"] = request,
            ["resolved"] = resolved,
            ["result"] = job.State == JobStates.Succeeded ? outcome.Body : null,
            ["error"] = job.State == JobStates.Succeeded ? null : job.ErrorJson is null ? null : outcome.Body,
            ["status_code"] = job.ErrorJson is null ? null : outcome.Status,
            ["location"] = Location(job.Id),
            ["logs"] = $"{Location(job.Id)}/logs",
        };
        SecretRedaction.RedactStrings(document);
        return document;
    }

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
