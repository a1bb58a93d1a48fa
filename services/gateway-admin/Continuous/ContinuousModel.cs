using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;

namespace RouteIQ.GatewayAdmin.Continuous;

/// <summary>
/// A continuous-training policy's persisted state, one row per trainer, shared by every
/// gateway-admin replica. Every change goes through <see cref="Revision"/> (optimistic
/// concurrency): a trigger fires only for the replica whose claim commits.
/// </summary>
public sealed class ContinuousTrainerState
{
    public required string Trainer { get; set; }
    public bool Paused { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Schedule occurrences after this instant are due (set when a scheduled run fires: missed ticks collapse into one).</summary>
    public DateTimeOffset ScheduleFrom { get; set; }

    public DateTimeOffset? LastFiredAt { get; set; }
    public string? LastTrigger { get; set; }
    public Guid? LastRunId { get; set; }

    /// <summary>The end of the last run's dataset window: new decisions and grades are counted from here.</summary>
    public DateTimeOffset? WindowEnd { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
    public int Revision { get; set; }
}

public static class RunStates
{
    /// <summary>Claimed; the dataset is being built.</summary>
    public const string Building = "building";

    /// <summary>The train job exists (its own state is the job's).</summary>
    public const string Started = "started";

    public const string Failed = "failed";
}

/// <summary>One firing of a trigger: what fired it with which numbers, its dataset and its job.</summary>
public sealed class ContinuousRun
{
    public Guid Id { get; set; }
    public required string Trainer { get; set; }
    public required string Trigger { get; set; }

    /// <summary>The trigger's numbers (JSON): counters, PSI per feature, the cron occurrence …</summary>
    public required string DetailsJson { get; set; }

    public required string State { get; set; }
    public DateTimeOffset ClaimedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public string? DatasetId { get; set; }
    public Guid? JobId { get; set; }
    public string? Error { get; set; }

    /// <summary>The replica that claimed it.</summary>
    public string? Instance { get; set; }
}

/// <summary><c>RouteIQ:Continuous:*</c>.</summary>
public sealed class ContinuousOptions
{
    public const string Section = "RouteIQ:Continuous";

    /// <summary>How often each replica evaluates the triggers.</summary>
    [Range(0.05, 3600, ErrorMessage = "RouteIQ:Continuous:EvaluateSeconds must be between 0.05 and 3600")]
    public double EvaluateSeconds { get; set; } = 15;

    /// <summary>A run still building its dataset after this long is given up (a replica died mid-build).</summary>
    [Range(10, 86400, ErrorMessage = "RouteIQ:Continuous:BuildTimeoutSeconds must be between 10 and 86400")]
    public int BuildTimeoutSeconds { get; set; } = 900;

    /// <summary><c>false</c>: no replica fires triggers on its own (the API still answers, pause/resume/trigger still work).</summary>
    public bool Enabled { get; set; } = true;
}

public static class ContinuousModel
{
    /// <summary>Called from <c>LedgerDbContext.OnModelCreating</c>.</summary>
    public static void Configure(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<ContinuousTrainerState>(e =>
        {
            e.ToTable("continuous_trainers");
            e.HasKey(x => x.Trainer);
            e.Property(x => x.Trainer).HasMaxLength(200);
            e.Property(x => x.LastTrigger).HasMaxLength(32);
            e.Property(x => x.Revision).IsConcurrencyToken();
        });
        modelBuilder.Entity<ContinuousRun>(e =>
        {
            e.ToTable("continuous_runs");
            e.HasKey(x => x.Id);
            e.Property(x => x.Trainer).HasMaxLength(200);
            e.Property(x => x.Trigger).HasMaxLength(32);
            e.Property(x => x.State).HasMaxLength(16);
            e.Property(x => x.DatasetId).HasMaxLength(64);
            e.Property(x => x.Instance).HasMaxLength(200);
            e.HasIndex(x => new { x.Trainer, x.ClaimedAt });
        });
    }
}
