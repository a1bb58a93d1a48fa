using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Drift;

/// <summary>The features whose distributions are compared (PSI), and the bookkeeping rows.</summary>
public static class DriftFeatures
{
    public const string QueryLength = "query_length";
    public const string RequestedModel = "requested_model";
    public const string ApiType = "api_type";
    public const string Strategy = "strategy";
    public const string SelectedModel = "selected_model";
    public const string Outcome = "outcome";

    /// <summary>Per selected model: the sum and count of graded scores (<c>quality_sum</c>, <c>quality_count</c>).</summary>
    public const string Quality = "quality";

    /// <summary>Value <c>""</c>: decisions stored in the window.</summary>
    public const string Total = "_total";

    /// <summary>Value <c>""</c>: grades stored whose own timestamp is in the window (the feedback store adds them through <see cref="DriftAccumulator.AddGrades"/>).</summary>
    public const string Feedback = "_feedback";

    public static readonly string[] Compared = [QueryLength, RequestedModel, ApiType, Strategy, SelectedModel, Outcome];

    private static readonly int[] LengthEdges = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
    private static readonly string[] LengthLabels = ["<16", "<32", "<64", "<128", "<256", "<512", "<1024", "<2048", "<4096", ">=4096"];

    /// <summary>Length buckets plus <c>unknown</c> (the last index).</summary>
    public static int LengthBuckets => LengthLabels.Length + 1;

    public static string LengthBucket(int? length) => LengthLabel(LengthIndex(length));

    public static int LengthIndex(int? length)
    {
        if (length is not { } n)
        {
            return LengthLabels.Length;
        }
        var i = 0;
        while (i < LengthEdges.Length && n >= LengthEdges[i])
        {
            i++;
        }
        return i;
    }

    public static string LengthLabel(int index) => index < LengthLabels.Length ? LengthLabels[index] : "unknown";
}

/// <summary>
/// Sums decisions into (window, feature, value) cells in memory as batches are stored;
/// <see cref="DriftStatisticsFlusher"/> adds them to <see cref="DecisionWindowStat"/> rows.
/// Each batch is first summed on its own (no lock), then merged under one short lock.
/// </summary>
public sealed class DriftAccumulator(IOptions<DriftOptions> options)
{
    public readonly record struct Cell(long WindowStartMs, string Feature, string Value);

    public sealed class Sums
    {
        public long Count;
        public double QualitySum;
        public long QualityCount;
    }

    private readonly long _windowMs = options.Value.WindowSeconds * 1000L;
    private readonly int _maxValues = options.Value.MaxValuesPerFeature;
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, byte>> _seen = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private Dictionary<Cell, Sums> _pending = [];

    public long WindowMs => _windowMs;

    public long WindowStart(long timestampMs) => timestampMs - (((timestampMs % _windowMs) + _windowMs) % _windowMs);

    /// <summary>
    /// Sums the first <paramref name="count"/> decisions. Hot path (every stored batch): per decision
    /// one length-bucket increment and five string-keyed counter updates in the batch's own per-window
    /// sums; the bounded-value bookkeeping and the cells are made once per distinct value of the batch,
    /// then merged under one lock.
    /// </summary>
    public void Add(IReadOnlyList<RouterDecision> decisions, int count)
    {
        if (count <= 0)
        {
            return;
        }
        var windows = new Dictionary<long, BatchWindow>();
        var window = 0L;
        BatchWindow? sums = null;
        for (var i = 0; i < count && i < decisions.Count; i++)
        {
            var d = decisions[i];
            var w = WindowStart(d.TimestampMs);
            if (sums is null || w != window)
            {
                window = w;
                if (!windows.TryGetValue(w, out sums))
                {
                    windows[w] = sums = new BatchWindow();
                }
            }
            sums.Total++;
            sums.Lengths[DriftFeatures.LengthIndex(d.QueryLength)]++;
            BatchWindow.Increment(sums.Values[0], d.RequestedModel);
            BatchWindow.Increment(sums.Values[1], d.ApiType);
            BatchWindow.Increment(sums.Values[2], d.StrategyName);
            BatchWindow.Increment(sums.Values[3], d.SelectedDeployment);
            BatchWindow.Increment(sums.Values[4], d.OutcomeStatus);
            if (d.Performance is { } score && double.IsFinite(score))
            {
                sums.Quality ??= new Dictionary<string, Sums>(StringComparer.Ordinal);
                ref var q = ref CollectionsMarshal.GetValueRefOrAddDefault(sums.Quality, d.SelectedDeployment ?? "", out _);
                q ??= new Sums();
                q.QualitySum += score;
                q.QualityCount++;
            }
        }

        var local = new Dictionary<Cell, Sums>();
        foreach (var (w, batch) in windows)
        {
            Bump(local, new Cell(w, DriftFeatures.Total, ""), batch.Total);
            for (var b = 0; b < batch.Lengths.Length; b++)
            {
                if (batch.Lengths[b] > 0)
                {
                    Bump(local, new Cell(w, DriftFeatures.QueryLength, DriftFeatures.LengthLabel(b)), batch.Lengths[b]);
                }
            }
            for (var f = 0; f < BatchWindow.Features.Length; f++)
            {
                foreach (var (value, n) in batch.Values[f])
                {
                    Bump(local, Bounded(w, BatchWindow.Features[f], value), n);
                }
            }
            if (batch.Quality is { } quality)
            {
                foreach (var (model, q) in quality)
                {
                    var cell = Bump(local, Bounded(w, DriftFeatures.Quality, model), by: 0);
                    cell.QualitySum += q.QualitySum;
                    cell.QualityCount += q.QualityCount;
                }
            }
        }
        Merge(local);
    }

    /// <summary>One window's sums within one batch: counters by value before they become cells.</summary>
    private sealed class BatchWindow
    {
        public static readonly string[] Features = [DriftFeatures.RequestedModel, DriftFeatures.ApiType, DriftFeatures.Strategy, DriftFeatures.SelectedModel, DriftFeatures.Outcome];

        public long Total;
        public readonly long[] Lengths = new long[DriftFeatures.LengthBuckets];
        public readonly Dictionary<string, long>[] Values =
        [
            new(StringComparer.Ordinal), new(StringComparer.Ordinal), new(StringComparer.Ordinal), new(StringComparer.Ordinal), new(StringComparer.Ordinal),
        ];
        public Dictionary<string, Sums>? Quality;

        /// <summary>Null and empty both count as <c>""</c> (<c>(none)</c> once bounded).</summary>
        public static void Increment(Dictionary<string, long> counts, string? value)
            => CollectionsMarshal.GetValueRefOrAddDefault(counts, value ?? "", out _)++;
    }

    /// <summary>
    /// Grades the feedback store committed (never duplicates: a redelivered <c>feedback_id</c> is not
    /// returned by the store). Each counts once in <c>_feedback</c> of the window of its own timestamp;
    /// a grade of the model its stored decision chose also adds its score to <c>quality</c> of that model
    /// in the decision's window. Orphans (decision not stored yet) and shadow grades of another model count as feedback only.
    /// </summary>
    public void AddGrades(IReadOnlyList<StoredGrade> grades)
    {
        if (grades.Count == 0)
        {
            return;
        }
        var local = new Dictionary<Cell, Sums>();
        foreach (var g in grades)
        {
            Bump(local, new Cell(WindowStart(g.GradeTimestampMs), DriftFeatures.Feedback, ""));
            if (g.GradesTheChoice && double.IsFinite(g.Score))
            {
                var cell = Bump(local, Bounded(WindowStart(g.DecisionTimestampMs!.Value), DriftFeatures.Quality, g.SelectedModel), by: 0);
                cell.QualitySum += g.Score;
                cell.QualityCount++;
            }
        }
        Merge(local);
    }

    /// <summary>Everything accumulated since the last call.</summary>
    public Dictionary<Cell, Sums> Drain()
    {
        lock (_lock)
        {
            var drained = _pending;
            _pending = [];
            return drained;
        }
    }

    /// <summary>Puts back cells a failed flush could not write.</summary>
    public void Restore(Dictionary<Cell, Sums> cells) => Merge(cells);

    private void Merge(Dictionary<Cell, Sums> local)
    {
        lock (_lock)
        {
            foreach (var (cell, sums) in local)
            {
                if (_pending.TryGetValue(cell, out var into))
                {
                    into.Count += sums.Count;
                    into.QualitySum += sums.QualitySum;
                    into.QualityCount += sums.QualityCount;
                }
                else
                {
                    _pending[cell] = sums;
                }
            }
        }
    }

    private Cell Bounded(long window, string feature, string? value)
    {
        var v = string.IsNullOrEmpty(value) ? "(none)" : value.Length > 100 ? value[..100] : value;
        var seen = _seen.GetOrAdd(feature, _ => new ConcurrentDictionary<string, byte>(StringComparer.Ordinal));
        if (!seen.ContainsKey(v))
        {
            if (seen.Count >= _maxValues)
            {
                v = "(other)";
            }
            else
            {
                seen.TryAdd(v, 0);
            }
        }
        return new Cell(window, feature, v);
    }

    private static Sums Bump(Dictionary<Cell, Sums> local, Cell cell, long by = 1)
    {
        ref var sums = ref CollectionsMarshal.GetValueRefOrAddDefault(local, cell, out _);
        sums ??= new Sums();
        sums.Count += by;
        return sums;
    }
}

/// <summary>Told of every committed batch (after the commit) by <c>IngestService</c>.</summary>
public interface IStoredBatchObserver
{
    /// <summary><paramref name="inserted"/> of <paramref name="decisions"/> were new (the rest duplicates).</summary>
    void Stored(IReadOnlyList<RouterDecision> decisions, int inserted);

    /// <summary>The grades a batch stored (duplicates and rejected ones are not among them).</summary>
    void GradesStored(IReadOnlyList<StoredGrade> grades);
}

/// <summary>
/// Sums each committed batch into the window statistics. When some of a batch were duplicates
/// (already counted) only as many as were inserted are added — the statistics are approximate by
/// that much, and by what a crash loses between a commit and the next flush (≤ <see cref="DriftOptions.FlushMilliseconds"/>).
/// </summary>
public sealed class DriftStatisticsObserver(DriftAccumulator accumulator) : IStoredBatchObserver
{
    public void Stored(IReadOnlyList<RouterDecision> decisions, int inserted) => accumulator.Add(decisions, inserted);

    public void GradesStored(IReadOnlyList<StoredGrade> grades) => accumulator.AddGrades(grades);
}

/// <summary>Adds the accumulated cells to <c>decision_window_stats</c> (one upsert statement per 400 cells), every <see cref="DriftOptions.FlushMilliseconds"/> and at stop.</summary>
public sealed partial class DriftStatisticsFlusher(
    DriftAccumulator accumulator,
    IDbContextFactory<TelemetryDbContext> contexts,
    IOptions<DriftOptions> options,
    TimeProvider time,
    ILogger<DriftStatisticsFlusher> logger) : BackgroundService
{
    private const int CellsPerStatement = 400;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromMilliseconds(options.Value.FlushMilliseconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            await FlushAsync(CancellationToken.None);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(CancellationToken.None);
    }

    /// <summary>Writes what has accumulated; on failure the cells go back for the next attempt.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var cells = accumulator.Drain();
        if (cells.Count == 0)
        {
            return;
        }
        try
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var entity = db.Model.FindEntityType(typeof(DecisionWindowStat))!;
            var schema = entity.GetSchema();
            var table = schema is null ? $"\"{entity.GetTableName()}\"" : $"\"{schema}\".\"{entity.GetTableName()}\"";
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            foreach (var chunk in cells.Chunk(CellsPerStatement))
            {
                var sql = new System.Text.StringBuilder(
                    $"INSERT INTO {table} AS s (window_start_ms, feature, value, count, quality_sum, quality_count) VALUES ");
                var args = new object[chunk.Length * 6];
                for (var i = 0; i < chunk.Length; i++)
                {
                    var (cell, sums) = chunk[i];
                    var p = i * 6;
                    sql.Append(i == 0 ? "" : ", ").Append($"({{{p}}}, {{{p + 1}}}, {{{p + 2}}}, {{{p + 3}}}, {{{p + 4}}}, {{{p + 5}}})");
                    args[p] = cell.WindowStartMs;
                    args[p + 1] = cell.Feature;
                    args[p + 2] = cell.Value;
                    args[p + 3] = sums.Count;
                    args[p + 4] = sums.QualitySum;
                    args[p + 5] = sums.QualityCount;
                }
                sql.Append(" ON CONFLICT (window_start_ms, feature, value) DO UPDATE SET count = s.count + excluded.count,"
                    + " quality_sum = s.quality_sum + excluded.quality_sum, quality_count = s.quality_count + excluded.quality_count");
                await db.Database.ExecuteSqlRawAsync(sql.ToString(), args, cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            accumulator.Restore(cells);
            LogFlushFailed(logger, ex, cells.Count);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write {Cells} window-statistics cells; kept for the next flush")]
    private static partial void LogFlushFailed(ILogger logger, Exception ex, int cells);
}
