using System.Text.Json.Nodes;
using Cronos;

namespace RouteIQ.GatewayAdmin.Continuous;

/// <summary>A trainer spec's <c>continuous</c> block, validated.</summary>
public sealed record ContinuousSpec
{
    /// <summary><c>enabled: false</c> keeps the block but fires nothing automatically.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary><c>dataset.window</c>: the build covers [now − window, now); null: from the beginning.</summary>
    public TimeSpan? DatasetWindow { get; init; }

    /// <summary>The other <c>dataset</c> options, as the <c>POST /admin/datasets</c> body (snake_case).</summary>
    public string DatasetOptionsJson { get; init; } = "{}";

    public string? Schedule { get; init; }
    public CronExpression? Cron { get; init; }
    public long? NewDecisions { get; init; }
    public long? NewFeedback { get; init; }
    public DriftTrigger? Drift { get; init; }
    public QualityDropTrigger? QualityDrop { get; init; }
    public int CooldownSeconds { get; init; } = 3600;
    public int MaxRunning { get; init; } = 1;

    /// <summary>Roll the trained version out (through the spec's promotion block where there is one).</summary>
    public bool Promote { get; init; }

    public JsonObject ToJson() => new()
    {
        ["enabled"] = Enabled,
        ["dataset"] = WithWindow(),
        ["triggers"] = new JsonObject
        {
            ["schedule"] = Schedule,
            ["new_decisions"] = NewDecisions,
            ["new_feedback"] = NewFeedback,
            ["drift"] = Drift is { } d ? new JsonObject { ["psi"] = d.Psi, ["min_samples"] = d.MinSamples } : null,
            ["quality_drop"] = QualityDrop is { } q ? new JsonObject { ["delta"] = q.Delta, ["min_samples"] = q.MinSamples } : null,
        },
        ["cooldown_seconds"] = CooldownSeconds,
        ["max_running"] = MaxRunning,
        ["promote"] = Promote,
    };

    private JsonObject WithWindow()
    {
        var options = JsonNode.Parse(DatasetOptionsJson)!.AsObject();
        if (DatasetWindow is { } w)
        {
            options["window_seconds"] = (long)w.TotalSeconds;
        }
        return options;
    }
}

public sealed record DriftTrigger(double Psi, long MinSamples);

public sealed record QualityDropTrigger(double Delta, long MinSamples);

/// <summary>The names a run records as its trigger.</summary>
public static class Triggers
{
    public const string Manual = "manual";
    public const string Schedule = "schedule";
    public const string NewDecisions = "new_decisions";
    public const string NewFeedback = "new_feedback";
    public const string Drift = "drift";
    public const string QualityDrop = "quality_drop";
}
