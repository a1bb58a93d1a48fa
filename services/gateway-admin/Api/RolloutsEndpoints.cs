using System.Text.Json;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using RouteIQ.GatewayAdmin.Ledger;
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

    [ApiProblemStatuses(400, 503)]
    private static async Task<Results<Ok<RolloutList>, ApiProblem>> ListAsync(string? model, int? limit, IRequestClient<GetRollouts> client,
        IOptions<AdminOptions> options, CancellationToken cancellationToken)
    {
        if (AdminEndpoints.LimitProblem(limit, options.Value) is { } problem)
        {
            return problem;
        }
        var answer = await AskAsync(() => client.GetResponse<RolloutDocuments>(new GetRollouts { ModelName = model, Limit = limit ?? options.Value.DefaultListLimit },
            cancellationToken, RequestTimeout.After(s: options.Value.RolloutAnswerSeconds)));
        return answer is null
            ? AdminEndpoints.RolloutUnavailable()
            : TypedResults.Ok(new RolloutList(answer.Rollouts.Select(Read).ToList()));
    }

    [ApiProblemStatuses(404, 503)]
    private static async Task<Results<Ok<RolloutDocument>, ApiProblem>> GetAsync(Guid id, IRequestClient<GetRollout> client, IOptions<AdminOptions> options,
        CancellationToken cancellationToken)
    {
        var answer = await AskAsync(() => client.GetResponse<RolloutDocuments>(new GetRollout { RolloutId = id }, cancellationToken,
            RequestTimeout.After(s: options.Value.RolloutAnswerSeconds)));
        return Document(answer, id);
    }

    [ApiProblemStatuses(400, 404, 409, 503)]
    private static async Task<Results<Ok<RolloutDocument>, ApiProblem>> ControlAsync(Guid id, string action, IRequestClient<ControlRollout> client,
        IOptions<AdminOptions> options, CancellationToken cancellationToken)
    {
        if (!Actions.Contains(action))
        {
            return ApiProblems.Create(404, $"unknown rollout action '{action}'", [new("field", "action"), new("allowed", Actions)]);
        }
        var answer = await AskAsync(() => client.GetResponse<RolloutDocuments>(new ControlRollout { RolloutId = id, Action = action }, cancellationToken,
            RequestTimeout.After(s: options.Value.RolloutAnswerSeconds)));
        return Document(answer, id);
    }

    /// <summary>Rollout sends its documents as JSON text: read here into the API's record.</summary>
    private static RolloutDocument Read(string json) => JsonSerializer.Deserialize<RolloutDocument>(json, ApiJson.Options)!;

    private static Results<Ok<RolloutDocument>, ApiProblem> Document(RolloutDocuments? answer, Guid id)
    {
        if (answer is null)
        {
            return AdminEndpoints.RolloutUnavailable();
        }
        if (answer.StatusCode != 200)
        {
            var fields = new List<KeyValuePair<string, object?>> { new("rollout_id", id) };
            if (answer.Rollouts.Count > 0)
            {
                fields.Add(new("state", Read(answer.Rollouts[0]).State));
            }
            return ApiProblems.Create(answer.StatusCode, answer.Error ?? "rollout request failed", fields);
        }
        return TypedResults.Ok(Read(answer.Rollouts[0]));
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
}
