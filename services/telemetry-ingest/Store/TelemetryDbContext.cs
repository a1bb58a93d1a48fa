using System.Text;
using Microsoft.EntityFrameworkCore;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.TelemetryIngest.Store;

/// <summary>telemetry-ingest's schema (<c>telemetry</c>): decisions, rejected events, datasets. Column names are snake_case so the raw COPY/INSERT SQL reads naturally.</summary>
public sealed class TelemetryDbContext(DbContextOptions<TelemetryDbContext> options) : DbContext(options)
{
    public const string Schema = "telemetry";

    public DbSet<DecisionRow> Decisions => Set<DecisionRow>();
    public DbSet<RejectedEventRow> RejectedEvents => Set<RejectedEventRow>();
    public DbSet<DatasetRow> Datasets => Set<DatasetRow>();
    public DbSet<FeedbackRow> Feedback => Set<FeedbackRow>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.UseRouteIQSchema(this, Schema);
        var json = Database.IsNpgsql() ? "json" : "TEXT";

        modelBuilder.Entity<DecisionRow>(e =>
        {
            e.ToTable("decisions");
            e.HasKey(x => x.EventId);
            if (Database.IsNpgsql())
            {
                e.Property(x => x.EventId).UseCollation("C");
            }
            e.HasIndex(x => x.TimestampMs);
            e.Property(x => x.AttributesJson).HasColumnType(json);
        });
        modelBuilder.Entity<RejectedEventRow>(e =>
        {
            e.ToTable("rejected_events");
            e.HasKey(x => x.Id);
            e.HasIndex(x => x.ReceivedAtMs);
        });
        modelBuilder.Entity<DatasetRow>(e =>
        {
            e.ToTable("datasets");
            e.HasKey(x => x.DatasetId);
            e.Property(x => x.MetadataJson).HasColumnType(json);
        });
        Drift.DriftModel.Configure(modelBuilder);

        modelBuilder.Entity<FeedbackRow>(e =>
        {
            e.ToTable("feedback");
            e.HasKey(x => x.FeedbackId);
            if (Database.IsNpgsql())
            {
                // Same collation as decisions.event_id, so the join compares byte for byte.
                e.Property(x => x.FeedbackId).UseCollation("C");
                e.Property(x => x.DecisionEventId).UseCollation("C");
            }
            // The joins of the dataset build and the summary (feedback-contract.md "Joining").
            e.HasIndex(x => x.DecisionEventId);
            e.HasIndex(x => new { x.TraceId, x.SpanId });
            e.HasIndex(x => x.TimestampMs);
            e.Property(x => x.AttributesJson).HasColumnType(json);
        });

        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
            {
                property.SetColumnName(SnakeCase(property.Name));
            }
        }
    }

    internal static string SnakeCase(string name)
    {
        var sb = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                sb.Append('_');
            }
            sb.Append(char.ToLowerInvariant(name[i]));
        }
        return sb.ToString();
    }
}

public sealed class DecisionRow
{
    public required string EventId { get; set; }
    public long TimestampMs { get; set; }
    public long IngestedAtMs { get; set; }
    public required string Source { get; set; }
    public required string Kind { get; set; }
    public string? ContractVersion { get; set; }
    public string? TraceId { get; set; }
    public string? SpanId { get; set; }
    public string? ParentSpanId { get; set; }
    public string? RequestedModel { get; set; }
    public int? QueryLength { get; set; }
    public string? UserId { get; set; }
    public string? TeamId { get; set; }
    public string? ApiType { get; set; }
    public string? StrategyName { get; set; }
    public string? StrategyVersion { get; set; }
    public string? SelectedDeployment { get; set; }
    public string? SelectionReason { get; set; }
    public int CandidateCount { get; set; }
    public string? ExperimentId { get; set; }
    public string? ExperimentVariant { get; set; }
    public double? TotalMs { get; set; }
    public double? StrategyMs { get; set; }
    public double? EmbeddingMs { get; set; }
    public double? CandidateFilterMs { get; set; }
    public string? OutcomeStatus { get; set; }
    public string? ErrorType { get; set; }
    public string? ErrorMessage { get; set; }
    public long? InputTokens { get; set; }
    public long? OutputTokens { get; set; }
    public long? TotalTokens { get; set; }
    public bool FallbackTriggered { get; set; }
    public string? FallbackReason { get; set; }
    public string? OriginalModel { get; set; }
    public int? FallbackAttempt { get; set; }
    public double? Performance { get; set; }
    public string? QueryText { get; set; }
    public string? AttributesJson { get; set; }
    public double? SelectionProbability { get; set; }
}

public sealed class RejectedEventRow
{
    public long Id { get; set; }
    public long ReceivedAtMs { get; set; }
    public required string Source { get; set; }
    public required string Reason { get; set; }
    public required string RawBody { get; set; }
    public string? EventId { get; set; }
}

/// <summary>One grade (<c>routeiq.router_feedback.v1</c>); an orphan until its decision is stored.</summary>
public sealed class FeedbackRow
{
    public required string FeedbackId { get; set; }
    public string? DecisionEventId { get; set; }
    public string? TraceId { get; set; }
    public string? SpanId { get; set; }
    public string? ModelName { get; set; }
    public double Score { get; set; }

    /// <summary>Who graded: judge, user, task, heuristic, benchmark.</summary>
    public required string Source { get; set; }

    public string? JudgeModel { get; set; }
    public string? Rubric { get; set; }
    public long TimestampMs { get; set; }
    public long IngestedAtMs { get; set; }

    /// <summary>Where it came in: bus, otlp, http, file.</summary>
    public required string IngestSource { get; set; }

    public required string ContractVersion { get; set; }
    public string? AttributesJson { get; set; }
}

public sealed class DatasetRow
{
    public required string DatasetId { get; set; }
    public long CreatedAtMs { get; set; }
    public required string Uri { get; set; }
    public long TotalRecords { get; set; }
    public long TrainRecords { get; set; }
    public long TestRecords { get; set; }
    public long UniqueQueries { get; set; }
    public required string MetadataJson { get; set; }
}
