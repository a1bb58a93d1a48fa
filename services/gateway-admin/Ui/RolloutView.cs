using System.Text.Json.Nodes;

namespace RouteIQ.GatewayAdmin.Ui;

/// <summary>One version's numbers over a judging window (<c>stats.baseline</c> / <c>stats.candidate</c>).</summary>
public sealed record RolloutVersionStats(int? Version, long Requests, long Errors, double? ErrorRate, double? P50Ms, double? P99Ms, long? Retried, double? Agreement, double? AvgPrice);

/// <summary>A window's last known numbers: a shadow phase or one canary step, as of <see cref="At"/>.</summary>
public sealed record RolloutWindow(string Key, DateTimeOffset At, double Weight, RolloutVersionStats? Baseline, RolloutVersionStats? Candidate);

/// <summary>A history entry: a state or step change (with the numbers of the window it closed) or a note.</summary>
public sealed record RolloutEvent(DateTimeOffset? At, string State, int? Step, double? Weight, string? Note, string? Reason);

/// <summary>
/// The document of <c>GET /admin/rollouts/{id}</c> (docs/specs promotion.md) as the pages read it,
/// and the series its charts draw: the weight at each step change, and each window's error rate and
/// p99 for the candidate and the baseline (a window's numbers are those it was judged on when it closed,
/// or the latest saved ones while it runs).
/// </summary>
public sealed class RolloutView
{
    /// <summary>States in which a rollout is still judged (the others are final).</summary>
    public static readonly string[] InFlightStates = ["gating", "shadow", "canary"];

    public required Guid Id { get; init; }
    public required string Model { get; init; }
    public int? FromVersion { get; init; }
    public int? ToVersion { get; init; }
    public string Strategy { get; init; } = "";
    public required string State { get; init; }
    public int Step { get; init; }
    public double Weight { get; init; }
    public bool Paused { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? UpdatedAt { get; init; }
    public string? Reason { get; init; }
    public Guid? TrainJobId { get; init; }
    public JsonObject? Promotion { get; init; }
    public RolloutVersionStats? Baseline { get; init; }
    public RolloutVersionStats? Candidate { get; init; }
    public IReadOnlyList<RolloutEvent> History { get; init; } = [];
    public IReadOnlyList<RolloutWindow> Windows { get; init; } = [];

    public bool InFlight => InFlightStates.Contains(State, StringComparer.Ordinal);

    /// <summary>The canary's steps in percent (empty without a canary block).</summary>
    public IReadOnlyList<double> Steps => (Promotion?["canary"]?["steps"] as JsonArray ?? []).Select(UiData.Number).OfType<double>().ToList();

    /// <summary>Where the step stands, for people: "step 2 of 4 (25 %)", "shadow", "gating".</summary>
    public string StepText => State switch
    {
        "canary" when Step >= 0 => $"step {Step + 1} of {Math.Max(Steps.Count, Step + 1)}",
        _ when Step >= 0 && Steps.Count > 0 => $"ended at step {Step + 1} of {Steps.Count}",
        _ => State,
    };

    /// <summary>The weight after each change, then the current weight held until <paramref name="end"/>.</summary>
    public IReadOnlyList<(DateTimeOffset At, double Value)> WeightSeries(DateTimeOffset end)
    {
        var points = History.Where(h => h.At is not null && h.Weight is not null).Select(h => (h.At!.Value, h.Weight!.Value)).ToList();
        if (points.Count > 0 && end > points[^1].Item1)
        {
            points.Add((end, points[^1].Item2));
        }
        return points;
    }

    public static RolloutView Parse(JsonObject doc)
    {
        var history = new List<RolloutEvent>();
        // Windows by key, in the order they first appear; later numbers of a window replace earlier ones.
        var windows = new List<RolloutWindow>();
        void See(JsonNode? stats, DateTimeOffset? at)
        {
            if (stats is not JsonObject s || at is null || (s["baseline"] is null && s["candidate"] is null))
            {
                return;
            }
            var key = s["window"]?.ToString() ?? at.Value.ToString("O");
            var window = new RolloutWindow(key, at.Value, UiData.Number(s["weight"]) ?? 0, Stats(s["baseline"]), Stats(s["candidate"]));
            var index = windows.FindIndex(w => w.Key == key);
            if (index >= 0)
            {
                windows[index] = window;
            }
            else
            {
                windows.Add(window);
            }
        }
        foreach (var entry in (doc["history"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var at = Time(entry["at"]);
            history.Add(new RolloutEvent(at, entry["state"]?.ToString() ?? "", Int(entry["step"]), UiData.Number(entry["weight"]), entry["note"]?.ToString(), entry["reason"]?.ToString()));
            See(entry["stats"], at);
        }
        var updated = Time(doc["updated_at"]);
        See(doc["stats"], updated);
        return new RolloutView
        {
            Id = Guid.TryParse(doc["rollout_id"]?.ToString(), out var id) ? id : Guid.Empty,
            Model = doc["model"]?.ToString() ?? "",
            FromVersion = Int(doc["from_version"]),
            ToVersion = Int(doc["to_version"]),
            Strategy = doc["strategy"]?.ToString() ?? "",
            State = doc["state"]?.ToString() ?? "",
            Step = Int(doc["step"]) ?? -1,
            Weight = UiData.Number(doc["weight"]) ?? 0,
            Paused = doc["paused"] is JsonValue p && p.TryGetValue<bool>(out var paused) && paused,
            StartedAt = Time(doc["started_at"]),
            UpdatedAt = updated,
            Reason = doc["reason"]?.ToString(),
            TrainJobId = Guid.TryParse(doc["train_job_id"]?.ToString(), out var job) ? job : null,
            Promotion = doc["promotion"] as JsonObject,
            Baseline = Stats(doc["stats"]?["baseline"]),
            Candidate = Stats(doc["stats"]?["candidate"]),
            History = history,
            Windows = windows,
        };
    }

    private static RolloutVersionStats? Stats(JsonNode? node) => node is JsonObject s
        ? new RolloutVersionStats(Int(s["version"]), (long)(UiData.Number(s["requests"]) ?? 0), (long)(UiData.Number(s["errors"]) ?? 0), UiData.Number(s["error_rate"]),
            UiData.Number(s["latency_p50_ms"]), UiData.Number(s["latency_p99_ms"]), (long?)UiData.Number(s["retried_on_baseline"]), UiData.Number(s["agreement"]), UiData.Number(s["avg_price"]))
        : null;

    private static int? Int(JsonNode? node) => UiData.Number(node) is { } d ? (int)d : null;

    private static DateTimeOffset? Time(JsonNode? node)
        => node is JsonValue v && (v.TryGetValue<DateTimeOffset>(out var t) || DateTimeOffset.TryParse(v.ToString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out t)) ? t : null;
}
