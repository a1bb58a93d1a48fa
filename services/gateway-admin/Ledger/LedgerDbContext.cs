using Microsoft.EntityFrameworkCore;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>One train, roll or rollback request and everything the ledger learned about it.</summary>
public sealed class Job
{
    public Guid Id { get; set; }
    public required string Kind { get; set; }
    public string? Trainer { get; set; }
    public string? ModelName { get; set; }
    public required string State { get; set; }

    /// <summary><see cref="JobPhases.Training"/> or <see cref="JobPhases.Rolling"/> (train jobs that roll on success).</summary>
    public string? Phase { get; set; }

    /// <summary>The dispatch number: events of an older attempt are ignored.</summary>
    public int Attempt { get; set; } = 1;

    /// <summary>Dispatches given back by a stopping runner: they do not count against MaxAttempts.</summary>
    public int HandBacks { get; set; }

    public bool RollOnSuccess { get; set; }
    public string? IdempotencyKey { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? LastHeartbeatAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public string? Node { get; set; }
    public string? WorkloadName { get; set; }

    /// <summary>The request as received (JSON).</summary>
    public required string RequestJson { get; set; }

    /// <summary>What it resolved to, secrets redacted (JSON).</summary>
    public string? ResolvedJson { get; set; }

    /// <summary>The TrainRequested last dispatched (unredacted: it is re-sent on a new attempt; never shown).</summary>
    public string? DispatchJson { get; set; }

    /// <summary>The training outcome (train response fields, JSON) once the trainer succeeded.</summary>
    public string? TrainResultJson { get; set; }

    /// <summary>The rollout outcome (roll response fields, JSON) once the model is rolled out.</summary>
    public string? RollResultJson { get; set; }

    /// <summary>The problem body of a failure (JSON), with <see cref="StatusCode"/>.</summary>
    public string? ErrorJson { get; set; }
    public int? StatusCode { get; set; }

    public string? LogTail { get; set; }
    public string? LogsUri { get; set; }

    /// <summary>Optimistic concurrency: every change increments it, so two replicas never both move a job.</summary>
    public int Revision { get; set; }
}

/// <summary>A message written in the same transaction as the job it belongs to, sent later by <see cref="OutboxDispatcher"/>.</summary>
public sealed class OutboxMessage
{
    public long Id { get; set; }
    public Guid JobId { get; set; }

    /// <summary>Contract type name (see <see cref="OutboxMessages"/>).</summary>
    public required string MessageType { get; set; }

    /// <summary>A queue to send to (<c>queue:…</c>), or null to publish.</summary>
    public string? Destination { get; set; }

    public required string Body { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class LedgerDbContext(DbContextOptions<LedgerDbContext> options) : DbContext(options)
{
    public const string Schema = "gateway_admin";

    public DbSet<Job> Jobs => Set<Job>();
    public DbSet<OutboxMessage> Outbox => Set<OutboxMessage>();
    public DbSet<ModelVersionSummary> ModelVersions => Set<ModelVersionSummary>();
    public DbSet<Continuous.ContinuousTrainerState> ContinuousTrainers => Set<Continuous.ContinuousTrainerState>();
    public DbSet<Continuous.ContinuousRun> ContinuousRuns => Set<Continuous.ContinuousRun>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.UseRouteIQSchema(this, Schema);
        modelBuilder.Entity<Job>(job =>
        {
            job.ToTable("jobs");
            job.HasKey(j => j.Id);
            job.Property(j => j.Kind).HasMaxLength(16);
            job.Property(j => j.State).HasMaxLength(16);
            job.Property(j => j.Phase).HasMaxLength(16);
            job.Property(j => j.Trainer).HasMaxLength(200);
            job.Property(j => j.ModelName).HasMaxLength(200);
            job.Property(j => j.IdempotencyKey).HasMaxLength(200);
            job.Property(j => j.Revision).IsConcurrencyToken();
            job.HasIndex(j => j.IdempotencyKey).IsUnique();
            job.HasIndex(j => new { j.State, j.CreatedAt });
            job.HasIndex(j => j.CreatedAt);
        });
        modelBuilder.Entity<OutboxMessage>(outbox =>
        {
            outbox.ToTable("outbox");
            outbox.HasKey(o => o.Id);
            outbox.Property(o => o.MessageType).HasMaxLength(100);
            outbox.Property(o => o.Destination).HasMaxLength(200);
        });
        Continuous.ContinuousModel.Configure(modelBuilder);
        ModelVersionSummary.Configure(modelBuilder);

        if (!Database.IsNpgsql())
        {
            // SQLite cannot order or compare DateTimeOffset; store UTC ticks instead.
            foreach (var entity in modelBuilder.Model.GetEntityTypes())
            {
                foreach (var property in entity.GetProperties().Where(p => p.ClrType == typeof(DateTimeOffset) || p.ClrType == typeof(DateTimeOffset?)))
                {
                    property.SetValueConverter(new Microsoft.EntityFrameworkCore.Storage.ValueConversion.DateTimeOffsetToBinaryConverter());
                }
            }
        }
    }
}
