using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using RouteIQ.Contracts;
using RouteIQ.TelemetryIngest.Datasets;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Drift;

/// <summary>Answers gateway-admin's continuous-training questions: counters and drift (<see cref="GetDecisionStatistics"/>).</summary>
public sealed class DecisionStatisticsConsumer(DriftEvaluator evaluator) : IConsumer<GetDecisionStatistics>
{
    public async Task Consume(ConsumeContext<GetDecisionStatistics> context)
        => await context.RespondAsync(await evaluator.EvaluateAsync(context.Message, context.CancellationToken));
}

/// <summary>
/// Builds a dataset for gateway-admin through the same <see cref="DatasetBuilder"/> as
/// <c>POST /admin/datasets</c>. A dataset id already built answers with that dataset (a retried request).
/// </summary>
public sealed class BuildDatasetConsumer(DatasetBuilder builder, IDbContextFactory<TelemetryDbContext> contexts) : IConsumer<BuildDataset>
{
    public async Task Consume(ConsumeContext<BuildDataset> context)
    {
        var m = context.Message;
        DatasetRequest request;
        try
        {
            request = (JsonSerializer.Deserialize<DatasetRequest>(m.OptionsJson, TelemetryJson.Options) ?? new DatasetRequest()) with { DatasetId = m.DatasetId };
        }
        catch (JsonException ex)
        {
            var field = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "dataset" : ex.Path.TrimStart('$', '.');
            await context.RespondAsync(new DatasetBuildFailed { DatasetId = m.DatasetId, Field = field, Reason = ex.Message.Split(" Path:")[0] });
            return;
        }
        try
        {
            var info = await builder.BuildAsync(request, null, context.CancellationToken);
            await context.RespondAsync(Built(info.DatasetId, info.Uri, info.CreatedAt, info.TotalRecords, info.TrainRecords, info.TestRecords, info.UniqueQueries, info.Files));
        }
        catch (DatasetRequestException ex)
        {
            await context.RespondAsync(new DatasetBuildFailed { DatasetId = m.DatasetId, Field = ex.Field, Reason = ex.Message });
        }
        catch (DatasetConflictException)
        {
            await using var db = await contexts.CreateDbContextAsync(context.CancellationToken);
            var row = await db.Datasets.AsNoTracking().FirstAsync(d => d.DatasetId == m.DatasetId, context.CancellationToken);
            await context.RespondAsync(Built(row.DatasetId, row.Uri, DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAtMs),
                row.TotalRecords, row.TrainRecords, row.TestRecords, row.UniqueQueries, []));
        }
    }

    private static DatasetBuilt Built(string id, string uri, DateTimeOffset at, long total, long train, long test, long queries, IReadOnlyList<ArtifactFile> files)
        => new() { DatasetId = id, Uri = uri, BuiltAt = at, TotalRecords = total, TrainRecords = train, TestRecords = test, UniqueQueries = queries, Files = files };
}

public sealed class DecisionStatisticsConsumerDefinition : ConsumerDefinition<DecisionStatisticsConsumer>
{
    public DecisionStatisticsConsumerDefinition()
    {
        EndpointName = "telemetry-ingest.decision-statistics";
        ConcurrentMessageLimit = 8;
    }
}

public sealed class BuildDatasetConsumerDefinition : ConsumerDefinition<BuildDatasetConsumer>
{
    public BuildDatasetConsumerDefinition()
    {
        EndpointName = "telemetry-ingest.build-dataset";
        ConcurrentMessageLimit = 2;
    }
}
