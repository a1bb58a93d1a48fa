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
        var group = endpoints.MapGroup("/admin/continuous").WithTags("continuous").RequireAuthorization(ApiKeyAuthentication.AdminPolicy);
        group.MapGet("", GetAsync).WithName("ListContinuous")
            .WithSummary("Per trainer with a continuous block: enabled, paused, next schedule, counters since the last run, PSI per feature, last trigger and its job");
        group.MapPost("/{trainer}/pause", (string trainer, ContinuousEngine engine, CancellationToken ct) => SetPausedAsync(trainer, true, engine, ct))
            .WithName("PauseContinuous").WithSummary("Stop firing triggers for this trainer (persisted: holds across replicas and restarts)");
        group.MapPost("/{trainer}/resume", (string trainer, ContinuousEngine engine, CancellationToken ct) => SetPausedAsync(trainer, false, engine, ct))
            .WithName("ResumeContinuous").WithSummary("Fire triggers again");
        group.MapPost("/{trainer}/trigger", TriggerAsync).WithName("TriggerContinuous")
            .WithSummary("Run the policy now (ignores pause and cooldown, respects max_running): builds the dataset and answers 202 with the train job");
        return endpoints;
    }

    private static async Task<IResult> GetAsync(ContinuousEngine engine, CancellationToken cancellationToken)
        => TypedResults.Json(await engine.DescribeAsync(cancellationToken), LedgerJson.Api);

    private static IResult NoPolicy(string trainer)
        => ApiProblems.Create(404, "no continuous policy for this trainer", [new("field", "trainer"), new("trainer", trainer)],
            "the trainer spec has no continuous block (or no such trainer)");

    private static async Task<IResult> SetPausedAsync(string trainer, bool paused, ContinuousEngine engine, CancellationToken cancellationToken)
    {
        var (outcome, state) = await engine.SetPausedAsync(trainer, paused, CancellationToken.None);
        return outcome == ContinuousEngine.ControlOutcome.NoPolicy
            ? NoPolicy(trainer)
            : TypedResults.Json(new JsonObject { ["trainer"] = trainer, ["paused"] = state!.Paused, ["updated_at"] = state.UpdatedAt }, LedgerJson.Api);
    }

    private static async Task<IResult> TriggerAsync(string trainer, ContinuousEngine engine, CancellationToken cancellationToken)
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
            return ApiProblems.FromBody(422, "the run could not start", doc, run.Error);
        }
        return TypedResults.Json(doc, LedgerJson.Api, statusCode: StatusCodes.Status202Accepted);
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
