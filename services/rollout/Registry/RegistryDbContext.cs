using Microsoft.EntityFrameworkCore;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.Rollout.Registry;

/// <summary>Rollout's own schema: models, versions, aliases and deployments with their history.</summary>
public sealed class RegistryDbContext(DbContextOptions<RegistryDbContext> options) : DbContext(options)
{
    public const string Schema = "rollout";

    public DbSet<RegisteredModel> Models => Set<RegisteredModel>();
    public DbSet<ModelVersion> Versions => Set<ModelVersion>();
    public DbSet<ModelAlias> Aliases => Set<ModelAlias>();
    public DbSet<Deployment> Deployments => Set<Deployment>();
    public DbSet<RolloutRecord> Rollouts => Set<RolloutRecord>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.UseRouteIQSchema(this, Schema);

        modelBuilder.Entity<RegisteredModel>(e =>
        {
            e.ToTable("models");
            e.HasKey(m => m.Name);
            e.Property(m => m.Name).HasMaxLength(128);
        });

        modelBuilder.Entity<ModelVersion>(e =>
        {
            e.ToTable("model_versions");
            e.HasKey(v => v.Id);
            e.Property(v => v.ModelName).HasMaxLength(128);
            e.HasIndex(v => new { v.ModelName, v.Version }).IsUnique();
            // A redelivered TrainCompleted finds the version it already registered.
            e.HasIndex(v => v.TrainJobId).IsUnique();
        });

        modelBuilder.Entity<ModelAlias>(e =>
        {
            e.ToTable("model_aliases");
            e.HasKey(a => new { a.ModelName, a.Alias });
            e.Property(a => a.ModelName).HasMaxLength(128);
            e.Property(a => a.Alias).HasMaxLength(64);
        });

        modelBuilder.Entity<Deployment>(e =>
        {
            e.ToTable("deployments");
            e.HasKey(d => d.Id);
            e.Property(d => d.ModelName).HasMaxLength(128);
            e.HasIndex(d => new { d.ModelName, d.Active });
            e.HasIndex(d => d.Sequence).IsUnique();
            e.HasIndex(d => d.RollJobId);
        });

        modelBuilder.Entity<RolloutRecord>(e =>
        {
            e.ToTable("rollouts");
            e.HasKey(r => r.Id);
            e.Property(r => r.ModelName).HasMaxLength(128);
            e.Property(r => r.State).HasMaxLength(32);
            e.Property(r => r.Strategy).HasMaxLength(64);
            e.HasIndex(r => new { r.ModelName, r.State });
            e.HasIndex(r => r.StartedAt);
        });
    }
}

/// <summary>
/// One promotion (gate, shadow, canary) of a version; its id is the roll's job id. Persisted at
/// each state or step change, so a restarted rollout service finds what was in flight.
/// </summary>
public sealed class RolloutRecord
{
    public Guid Id { get; set; }
    public required string ModelName { get; set; }
    public int? FromVersion { get; set; }
    public int ToVersion { get; set; }
    public required string Strategy { get; set; }

    /// <summary>See <see cref="Rollouts.RolloutStates"/>.</summary>
    public required string State { get; set; }

    public int Step { get; set; } = -1;
    public double Weight { get; set; }
    public bool Paused { get; set; }
    public DateTimeOffset StartedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
    public string? Reason { get; set; }
    public required string PromotionJson { get; set; }
    public string? StatsJson { get; set; }
    public string? HistoryJson { get; set; }

    /// <summary>The candidate server's deployment id (its serving workload's label) while it runs.</summary>
    public Guid? CandidateDeploymentId { get; set; }

    public string? CandidateServerUrl { get; set; }
    public Guid? TrainJobId { get; set; }
}

/// <summary>A model and the next version number it hands out.</summary>
public sealed class RegisteredModel
{
    public required string Name { get; set; }
    public int NextVersion { get; set; } = 1;
    public DateTimeOffset CreatedAt { get; set; }
}

public static class VersionStates
{
    /// <summary>Number assigned, files being copied; not resolvable yet.</summary>
    public const string Registering = "registering";
    public const string Ready = "ready";
}

public sealed class ModelVersion
{
    public Guid Id { get; set; }
    public required string ModelName { get; set; }
    public int Version { get; set; }
    public Guid TrainJobId { get; set; }
    public required string State { get; set; }
    public string? Trainer { get; set; }
    public string? ModelUri { get; set; }
    public string? ManifestUri { get; set; }
    public string? ManifestSha256 { get; set; }
    public string? SignatureType { get; set; }
    public string? ServeImage { get; set; }

    /// <summary>JSON array of the process-mode serve argv, if any.</summary>
    public string? ServeCommandJson { get; set; }

    public string? MetricsJson { get; set; }
    public string? RunId { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class ModelAlias
{
    public required string ModelName { get; set; }
    public required string Alias { get; set; }
    public int Version { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>One deployment; exactly one per model is <see cref="Active"/> once anything was rolled out.</summary>
public sealed class Deployment
{
    public Guid Id { get; set; }

    /// <summary>Monotonic order of deployments (newest has the largest).</summary>
    public long Sequence { get; set; }

    public required string ModelName { get; set; }
    public int Version { get; set; }
    public string? Alias { get; set; }
    public string? ModelUri { get; set; }
    public string? ManifestUri { get; set; }
    public string? ManifestSha256 { get; set; }
    public string? ServeImage { get; set; }
    public string? ServeCommandJson { get; set; }

    /// <summary>The serving workload's own URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string? ServerUrl { get; set; }

    public string? WorkloadName { get; set; }
    public string? WorkloadId { get; set; }
    public string? WorkloadKind { get; set; }
    public bool Active { get; set; }
    public bool IsRollback { get; set; }
    public Guid RollJobId { get; set; }
    public Guid? TrainJobId { get; set; }
    public Guid? PreviousDeploymentId { get; set; }
    public string? PreviousModelName { get; set; }
    public int? PreviousVersion { get; set; }
    public DateTimeOffset DeployedAt { get; set; }
    public DateTimeOffset? RetiredAt { get; set; }
}
