using System.Text.Json.Nodes;
using MassTransit;
using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>
/// <c>/admin/rollouts</c>: the promotions rollout runs (gate, shadow, canary), fronted over the
/// bus like <c>/admin/deployments</c>: gateway-admin never reads rollout's tables. A rollout's id
/// is the id of the roll (or train_then_roll) job that started it.
/// </summary>
public static class RolloutsEndpoints
{
    public static readonly string[] Actions = ["pause", "resume", "promote", "abort"];

    public static string Location(Guid id) => $"/admin/rollouts/{id}";

    public static RouteGroupBuilder MapRolloutsEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/rollouts", ListAsync).WithName("ListRollouts").WithSummary("Rollouts (gate, shadow, canary), newest first");
        admin.MapGet("/rollouts/{id:guid}", GetAsync).WithName("GetRollout").WithSummary("One rollout: state, step, weight, per-version stats, history");
        admin.MapPost("/rollouts/{id:guid}/{action}", ControlAsync).WithName("ControlRollout")
            .WithSummary("Operator control of a running rollout: pause, resume, promote or abort (= rollback)");
        return admin;
    }

    private static async Task<IResult> ListAsync(string? model, int? limit, IRequestClient<GetRollouts> client, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > 1000)
        {
            return ApiProblems.Field("limit", "limit must be between 1 and 1000");
        }
        var answer = await AskAsync(() => client.GetResponse<RolloutDocuments>(new GetRollouts { ModelName = model, Limit = limit ?? 100 }, cancellationToken, RequestTimeout.After(s: 10)));
        return answer is null
            ? Unavailable()
            : Results.Json(new JsonObject { ["rollouts"] = new JsonArray(answer.Rollouts.Select(r => JsonNode.Parse(r)).ToArray()) });
    }

    private static async Task<IResult> GetAsync(Guid id, IRequestClient<GetRollout> client, CancellationToken cancellationToken)
    {
        var answer = await AskAsync(() => client.GetResponse<RolloutDocuments>(new GetRollout { RolloutId = id }, cancellationToken, RequestTimeout.After(s: 10)));
        return Document(answer, id);
    }

    private static async Task<IResult> ControlAsync(Guid id, string action, IRequestClient<ControlRollout> client, CancellationToken cancellationToken)
    {
        if (!Actions.Contains(action))
        {
            return ApiProblems.Create(404, $"unknown rollout action '{action}'", [new("field", "action"), new("allowed", Actions)]);
        }
        var answer = await AskAsync(() => client.GetResponse<RolloutDocuments>(new ControlRollout { RolloutId = id, Action = action }, cancellationToken, RequestTimeout.After(s: 10)));
        return Document(answer, id);
    }

    private static IResult Document(RolloutDocuments? answer, Guid id)
    {
        if (answer is null)
        {
            return Unavailable();
        }
        if (answer.StatusCode != 200)
        {
            var fields = new List<KeyValuePair<string, object?>> { new("rollout_id", id) };
            if (answer.Rollouts.Count > 0 && JsonNode.Parse(answer.Rollouts[0]) is JsonObject doc)
            {
                fields.Add(new("state", doc["state"]?.GetValue<string>()));
            }
            return ApiProblems.Create(answer.StatusCode, answer.Error ?? "rollout request failed", fields);
        }
        return Results.Json(JsonNode.Parse(answer.Rollouts[0]));
    }

    private static async Task<RolloutDocuments?> AskAsync(Func<Task<Response<RolloutDocuments>>> ask)
    {
        try
        {
            return (await ask()).Message;
        }
        catch (RequestTimeoutException)
        {
            return null;
        }
    }

    private static IResult Unavailable() => ApiProblems.Create(503, "rollout service did not answer", [new("service", "rollout")]);
}
