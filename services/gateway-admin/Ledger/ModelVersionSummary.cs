using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>
/// One registered version as the ledger learned it from its train job: a small row per version, kept
/// in the same transaction as the job's result (<see cref="JobLedger.ApplyAsync"/>), so the dashboard's
/// model pages read an aggregate instead of parsing every train result per request.
/// </summary>
public sealed class ModelVersionSummary
{
    public required string ModelName { get; set; }
    public int Version { get; set; }
    public Guid JobId { get; set; }
    public string? Trainer { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public double? Quality { get; set; }
    public double? Price { get; set; }

    /// <summary>The train result's numeric metrics (a JSON object of numbers).</summary>
    public required string MetricsJson { get; set; }

    public static void Configure(ModelBuilder modelBuilder) => modelBuilder.Entity<ModelVersionSummary>(v =>
    {
        v.ToTable("model_versions");
        v.HasKey(x => new { x.ModelName, x.Version });
        v.Property(x => x.ModelName).HasMaxLength(200);
        v.Property(x => x.Trainer).HasMaxLength(200);
    });

    /// <summary>The summary a train job's result describes, or null while it names no version.</summary>
    public static ModelVersionSummary? Of(Job job)
    {
        if (job.Kind != JobKinds.Train || job.TrainResult() is not { Version: { } version } result)
        {
            return null;
        }
        var metrics = new JsonObject();
        foreach (var (key, value) in result.Metrics ?? [])
        {
            if (value is { } d)
            {
                metrics[key] = d;
            }
        }
        return new ModelVersionSummary
        {
            ModelName = result.RegisteredModel ?? job.ModelName ?? job.Trainer ?? "?",
            Version = version,
            JobId = job.Id,
            Trainer = job.Trainer,
            CreatedAt = job.CreatedAt,
            FinishedAt = job.FinishedAt,
            Quality = Number(metrics, "avg_quality", "quality"),
            Price = Number(metrics, "avg_price", "price"),
            MetricsJson = metrics.ToJsonString(),
        };
    }

    /// <summary>Adds or refreshes the job's version row in <paramref name="db"/> (saved with the job).</summary>
    public static async Task UpsertAsync(LedgerDbContext db, Job job, CancellationToken cancellationToken)
    {
        if (Of(job) is not { } summary)
        {
            return;
        }
        var row = await db.ModelVersions.FindAsync([summary.ModelName, summary.Version], cancellationToken);
        if (row is null)
        {
            db.ModelVersions.Add(summary);
        }
        else
        {
            db.Entry(row).CurrentValues.SetValues(summary);
        }
    }

    private static double? Number(JsonObject metrics, params string[] names)
    {
        foreach (var name in names)
        {
            if (metrics[name] is JsonValue v && v.TryGetValue<double>(out var d))
            {
                return d;
            }
        }
        return null;
    }
}
