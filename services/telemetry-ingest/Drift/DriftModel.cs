using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;

namespace RouteIQ.TelemetryIngest.Drift;

/// <summary>
/// One cell of the per-window statistics of the decision stream: in the window starting at
/// <see cref="WindowStartMs"/> (decision timestamp), how many decisions had <see cref="Value"/> for
/// <see cref="Feature"/>, and for the <c>quality</c> feature the sum and count of graded scores.
/// A few hundred rows per window whatever the traffic: drift and counters read these, never the decisions.
/// </summary>
public sealed class DecisionWindowStat
{
    public long WindowStartMs { get; set; }
    public required string Feature { get; set; }
    public required string Value { get; set; }
    public long Count { get; set; }
    public double QualitySum { get; set; }
    public long QualityCount { get; set; }
}

/// <summary><c>RouteIQ:Telemetry:Drift:*</c>.</summary>
public sealed class DriftOptions
{
    public const string Section = "RouteIQ:Telemetry:Drift";

    /// <summary>Width of a statistics window (decision timestamps).</summary>
    [Range(1, 86400, ErrorMessage = "RouteIQ:Telemetry:Drift:WindowSeconds must be between 1 and 86400")]
    public int WindowSeconds { get; set; } = 300;

    /// <summary>How often accumulated statistics are written (one upsert per touched cell).</summary>
    [Range(50, 600_000, ErrorMessage = "RouteIQ:Telemetry:Drift:FlushMilliseconds must be between 50 and 600000")]
    public int FlushMilliseconds { get; set; } = 1000;

    /// <summary>Distinct values kept per feature; later ones count as <c>(other)</c>.</summary>
    [Range(2, 10_000, ErrorMessage = "RouteIQ:Telemetry:Drift:MaxValuesPerFeature must be between 2 and 10000")]
    public int MaxValuesPerFeature { get; set; } = 200;

    /// <summary><c>false</c>: no statistics are kept (drift and new-decision triggers see nothing).</summary>
    public bool Enabled { get; set; } = true;
}

public static class DriftModel
{
    public const string Table = "decision_window_stats";

    /// <summary>Called from <c>TelemetryDbContext.OnModelCreating</c> (column names become snake_case there).</summary>
    public static void Configure(ModelBuilder modelBuilder)
        => modelBuilder.Entity<DecisionWindowStat>(e =>
        {
            e.ToTable(Table);
            e.HasKey(x => new { x.WindowStartMs, x.Feature, x.Value });
            e.Property(x => x.Feature).HasMaxLength(32);
            e.Property(x => x.Value).HasMaxLength(100);
        });
}
