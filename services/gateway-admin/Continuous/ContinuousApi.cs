using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.HttpResults;
using RouteIQ.GatewayAdmin.Api;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Continuous;

public static class ContinuousApi
{
    public static IEndpointRouteBuilder MapContinuousApi(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/admin/continuous").WithTags("continuous").RequireApiKey(ApiKeyAuthentication.AdminPolicy);
        group.MapGet("", GetAsync).WithName("ListContinuous")
            .WithSummary("Per trainer with a continuous block: enabled, paused, next schedule, counters since the last run, PSI per feature, last trigger and its job");
        group.MapPost("/{trainer}/pause", PauseAsync)
            .WithName("PauseContinuous").WithSummary("Stop firing triggers for this trainer (persisted: holds across replicas and restarts)");
        group.MapPost("/{trainer}/resume", ResumeAsync)
            .WithName("ResumeContinuous").WithSummary("Fire triggers again");
        group.MapPost("/{trainer}/trigger", TriggerAsync).WithName("TriggerContinuous")
            .WithSummary("Run the policy now (ignores pause and cooldown, respects max_running): builds the dataset and answers 202 with the train job");
        return endpoints;
    }

    private static async Task<Ok<ContinuousList>> GetAsync(ContinuousEngine engine, CancellationToken cancellationToken)
        => TypedResults.Ok(await engine.DescribeAsync(cancellationToken));

    private static ApiProblem NoPolicy(string trainer)
        => ApiProblems.Create(404, "no continuous policy for this trainer", [new("field", "trainer"), new("trainer", trainer)],
            "the trainer spec has no continuous block (or no such trainer)");

    [ApiProblemStatuses(404)]
    private static Task<Results<Ok<ContinuousPauseState>, ApiProblem>> PauseAsync(string trainer, ContinuousEngine engine)
        => SetPausedAsync(trainer, true, engine);

    [ApiProblemStatuses(404)]
    private static Task<Results<Ok<ContinuousPauseState>, ApiProblem>> ResumeAsync(string trainer, ContinuousEngine engine)
        => SetPausedAsync(trainer, false, engine);

    private static async Task<Results<Ok<ContinuousPauseState>, ApiProblem>> SetPausedAsync(string trainer, bool paused, ContinuousEngine engine)
    {
        var (outcome, state) = await engine.SetPausedAsync(trainer, paused, CancellationToken.None);
        return outcome == ContinuousEngine.ControlOutcome.NoPolicy
            ? NoPolicy(trainer)
            : TypedResults.Ok(new ContinuousPauseState(trainer, state!.Paused, state.UpdatedAt));
    }

    [ApiProblemStatuses(404, 409, 422)]
    private static async Task<Results<Accepted<ContinuousRunDocument>, ApiProblem>> TriggerAsync(string trainer, ContinuousEngine engine, CancellationToken cancellationToken)
    {
        // Not the request's token: a client that goes away does not take the run with it.
        var (outcome, run) = await engine.TriggerAsync(trainer, CancellationToken.None);
        switch (outcome)
        {
            case ContinuousEngine.ControlOutcome.NoPolicy:
                return NoPolicy(trainer);
            case ContinuousEngine.ControlOutcome.Busy:
                return ApiProblems.Create(409, "max_running runs of this trainer are already running", [new("field", "max_running"), new("trainer", trainer)]);
        }
        var doc = ContinuousEngine.RunDocument(run!, run!.JobId is null ? null : JobStates.Queued);
        if (run.State == RunStates.Failed)
        {
            return ApiProblems.FromBody(422, "the run could not start", LedgerJson.ToObject(doc), run.Error);
        }
        return TypedResults.Accepted((string?)null, doc);
    }
}

public static class ContinuousExtensions
{
    /// <summary>Continuous training (<c>RouteIQ:Continuous:*</c>): the engine, its evaluation loop and <c>/admin/continuous</c>.</summary>
    public static IHostApplicationBuilder AddContinuousTraining(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ContinuousOptions>().BindConfiguration(ContinuousOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(sp => new ContinuousClock(sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<ContinuousEngine>();
        builder.Services.AddHostedService<ContinuousService>();
        return builder;
    }
}
