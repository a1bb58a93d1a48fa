using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using RouteIQ.Contracts;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Drift;

/// <summary>
/// Counters and population stability index from <see cref="DecisionWindowStat"/> rows: one
/// grouped read per window range, whatever the number of decisions behind it.
/// </summary>
public sealed partial class DriftEvaluator(
    IDbContextFactory<TelemetryDbContext> contexts,
    DriftAccumulator accumulator,
    ILogger<DriftEvaluator> logger)
{
    /// <summary>Added to every bin of both distributions, so an empty bin does not make PSI infinite.</summary>
    public const double Smoothing = 0.5;

    public sealed record FeatureSums(Dictionary<string, Dictionary<string, long>> Counts, double QualitySum, long QualityCount, long Total, long Feedback,
        Dictionary<string, ModelQuality>? QualityByModel = null);

    /// <summary>Sums of the windows whose start is in [<paramref name="fromMs"/>, <paramref name="toMs"/>).</summary>
    public async Task<FeatureSums> SumAsync(long fromMs, long toMs, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.Set<DecisionWindowStat>().AsNoTracking()
            .Where(s => s.WindowStartMs >= fromMs && s.WindowStartMs < toMs)
            .GroupBy(s => new { s.Feature, s.Value })
            .Select(g => new { g.Key.Feature, g.Key.Value, Count = g.Sum(x => x.Count), QualitySum = g.Sum(x => x.QualitySum), QualityCount = g.Sum(x => x.QualityCount) })
            .ToListAsync(cancellationToken);
        var counts = new Dictionary<string, Dictionary<string, long>>(StringComparer.Ordinal);
        var byModel = new Dictionary<string, ModelQuality>(StringComparer.Ordinal);
        double qualitySum = 0;
        long qualityCount = 0, total = 0, feedback = 0;
        foreach (var r in rows)
        {
            switch (r.Feature)
            {
                case DriftFeatures.Total:
                    total += r.Count;
                    break;
                case DriftFeatures.Feedback:
                    feedback += r.Count;
                    break;
                case DriftFeatures.Quality:
                    qualitySum += r.QualitySum;
                    qualityCount += r.QualityCount;
                    if (r.QualityCount > 0)
                    {
                        byModel[r.Value] = new ModelQuality(Math.Round(r.QualitySum / r.QualityCount, 6), r.QualityCount);
                    }
                    break;
                default:
                    if (!counts.TryGetValue(r.Feature, out var values))
                    {
                        counts[r.Feature] = values = new Dictionary<string, long>(StringComparer.Ordinal);
                    }
                    values[r.Value] = values.GetValueOrDefault(r.Value) + r.Count;
                    break;
            }
        }
        return new FeatureSums(counts, qualitySum, qualityCount, total, feedback, byModel);
    }

    /// <summary>PSI = Σ (q − p)·ln(q / p) over the union of bins, both distributions smoothed by <see cref="Smoothing"/> per bin.</summary>
    public static double Psi(IReadOnlyDictionary<string, long> baseline, IReadOnlyDictionary<string, long> current)
    {
        var bins = baseline.Keys.Union(current.Keys, StringComparer.Ordinal).ToList();
        if (bins.Count < 2)
        {
            return 0;
        }
        var nb = baseline.Values.Sum() + Smoothing * bins.Count;
        var nc = current.Values.Sum() + Smoothing * bins.Count;
        double psi = 0;
        foreach (var bin in bins)
        {
            var p = (baseline.GetValueOrDefault(bin) + Smoothing) / nb;
            var q = (current.GetValueOrDefault(bin) + Smoothing) / nc;
            psi += (q - p) * Math.Log(q / p);
        }
        return psi;
    }

    /// <summary>PSI of every compared feature present on both sides.</summary>
    public static Dictionary<string, double> PsiByFeature(FeatureSums baseline, FeatureSums current)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var feature in DriftFeatures.Compared)
        {
            if (baseline.Counts.TryGetValue(feature, out var b) && current.Counts.TryGetValue(feature, out var c))
            {
                result[feature] = Math.Round(Psi(b, c), 6);
            }
        }
        return result;
    }

    /// <summary>Decisions stored with a timestamp in [<paramref name="fromMs"/>, <paramref name="toMs"/>) (the decisions' timestamp index).</summary>
    private async Task<long> CountDecisionsAsync(long fromMs, long toMs, CancellationToken cancellationToken)
    {
        if (toMs <= fromMs)
        {
            return 0;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Decisions.AsNoTracking().LongCountAsync(d => d.TimestampMs >= fromMs && d.TimestampMs < toMs, cancellationToken);
    }

    private long Ceil(long ms)
    {
        var start = accumulator.WindowStart(ms);
        return start == ms ? ms : start + accumulator.WindowMs;
    }

    public async Task<DecisionStatistics> EvaluateAsync(GetDecisionStatistics request, CancellationToken cancellationToken)
    {
        var end = long.MaxValue;
        // Windows that start at or after `since`, plus the new part of the window holding `since` counted from the
        // rows (an index range of at most one window): a decision is counted once across runs, and none is lost
        // because it landed in the same window as the last run's end (with 5-minute windows, up to 5 minutes of traffic).
        var sinceMs = request.Since.ToUnixTimeMilliseconds();
        var recent = await SumAsync(Ceil(sinceMs), end, cancellationToken);
        var boundary = await CountDecisionsAsync(sinceMs, Ceil(sinceMs), cancellationToken);
        var result = new DecisionStatistics { NewDecisions = recent.Total + boundary, NewFeedback = recent.Feedback };
        if (request.BaselineDatasetId is not { } datasetId)
        {
            return result;
        }

        string? metadata;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            metadata = await db.Datasets.AsNoTracking().Where(d => d.DatasetId == datasetId).Select(d => d.MetadataJson).FirstOrDefaultAsync(cancellationToken);
        }
        if (metadata is null || !TryWindow(metadata, out var baselineSince, out var baselineUntil))
        {
            return result with { Note = $"baseline dataset '{datasetId}' not found or without source_window" };
        }
        var currentSince = request.CurrentSince is { } cs && cs > baselineUntil ? cs : baselineUntil;
        var baseline = await SumAsync(accumulator.WindowStart(baselineSince.ToUnixTimeMilliseconds()), baselineUntil.ToUnixTimeMilliseconds(), cancellationToken);
        var current = await SumAsync(Ceil(currentSince.ToUnixTimeMilliseconds()), end, cancellationToken);
        var qualitySince = request.QualitySince is { } qs && qs > currentSince ? qs : currentSince;
        var graded = qualitySince == currentSince ? current : await SumAsync(Ceil(qualitySince.ToUnixTimeMilliseconds()), end, cancellationToken);
        var psi = PsiByFeature(baseline, current);
        var maxPsi = psi.Count == 0 ? 0 : psi.Values.Max();
        var drifted = request.PsiThreshold is { } threshold && maxPsi >= threshold
            && current.Total >= Math.Max(1, request.MinSamples) && baseline.Total > 0;
        result = result with
        {
            Psi = psi,
            MaxPsi = maxPsi,
            BaselineSamples = baseline.Total,
            CurrentSamples = current.Total,
            BaselineSince = baselineSince,
            BaselineUntil = baselineUntil,
            CurrentSince = currentSince,
            Drifted = drifted,
            CurrentQuality = graded.QualityCount > 0 ? Math.Round(graded.QualitySum / graded.QualityCount, 6) : null,
            BaselineQuality = baseline.QualityCount > 0 ? Math.Round(baseline.QualitySum / baseline.QualityCount, 6) : null,
            GradedSamples = graded.QualityCount,
            QualitySince = qualitySince,
            QualityByModel = graded.QualityByModel ?? [],
        };
        if (drifted)
        {
            LogDrift(logger, request.Trainer, maxPsi, request.PsiThreshold!.Value, datasetId);
        }
        return result;
    }

    private static bool TryWindow(string metadataJson, out DateTimeOffset since, out DateTimeOffset until)
    {
        since = until = default;
        using var doc = JsonDocument.Parse(metadataJson);
        return doc.RootElement.TryGetProperty("source_window", out var window)
            && window.TryGetProperty("since", out var s) && DateTimeOffset.TryParse(s.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out since)
            && window.TryGetProperty("until", out var u) && DateTimeOffset.TryParse(u.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out until);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Drift for {Trainer}: max PSI {MaxPsi:F3} ≥ {Threshold} against dataset {DatasetId}")]
    private static partial void LogDrift(ILogger logger, string? trainer, double maxPsi, double threshold, string datasetId);
}
