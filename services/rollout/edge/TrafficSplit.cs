using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace RouteIQ.Rollout.Edge;

/// <summary>
/// A candidate sharing one model's stable-endpoint traffic with the baseline for one step: per
/// request weighted, or sticky by a header key, with per-version numbers over the step (a new
/// split id starts a new window). Immutable but for its counters, so it swaps with the route table.
/// </summary>
public sealed class TrafficSplit
{
    /// <summary>Resolution of the weight: 1/100 of a percent.</summary>
    private const int Buckets = 10_000;

    public TrafficSplit(string id, int candidateVersion, string candidateUrl, double weight, string? stickyHeader, bool shadow, int candidateTimeoutMs)
    {
        Id = id;
        CandidateVersion = candidateVersion;
        CandidateUrl = candidateUrl.TrimEnd('/');
        Weight = Math.Clamp(weight, 0, 100);
        StickyHeader = string.IsNullOrWhiteSpace(stickyHeader) ? null : stickyHeader;
        Shadow = shadow;
        CandidateTimeoutMs = candidateTimeoutMs;
        CandidateVersionText = candidateVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _threshold = (int)Math.Round(Weight * (Buckets / 100.0));
    }

    private readonly int _threshold;

    public string Id { get; }
    public int CandidateVersion { get; }
    internal string CandidateVersionText { get; }
    public string CandidateUrl { get; }

    /// <summary>Candidate's share, percent.</summary>
    public double Weight { get; }

    /// <summary>Header whose value pins a client to one version (null: per request).</summary>
    public string? StickyHeader { get; }

    /// <summary>The candidate gets copies of the baseline's requests and answers nobody.</summary>
    public bool Shadow { get; }

    public int CandidateTimeoutMs { get; }

    public VersionStats Baseline { get; } = new();
    public VersionStats Candidate { get; } = new();

    /// <summary>Shadow copies agreeing with production's choice, and the candidate's price of its choices.</summary>
    public ShadowStats ShadowResults { get; } = new();

    private int _retired;
    private Action? _onRetired;

    /// <summary>True once the route table no longer holds this split: its queued shadow copies are discarded.</summary>
    public bool Retired => Volatile.Read(ref _retired) == 1;

    /// <summary>Called by the route table when it stops holding this split.</summary>
    internal void Retire()
    {
        if (Interlocked.Exchange(ref _retired, 1) == 0)
        {
            Interlocked.Exchange(ref _onRetired, null)?.Invoke();
        }
    }

    /// <summary>Runs <paramref name="action"/> when the split is retired (at once if it already is).</summary>
    internal void WhenRetired(Action action)
    {
        Volatile.Write(ref _onRetired, action);
        if (Retired && Interlocked.Exchange(ref _onRetired, null) is { } now)
        {
            now();
        }
    }

    public bool SameAs(TrafficSplit? other) => other is not null && other.Id == Id && other.CandidateUrl == CandidateUrl && other.Weight.Equals(Weight);

    /// <summary>Whether this request goes to the candidate.</summary>
    public bool ChooseCandidate(string? stickyKey)
    {
        if (_threshold <= 0 || Shadow)
        {
            return false;
        }
        if (_threshold >= Buckets)
        {
            return true;
        }
        var bucket = stickyKey is null ? Random.Shared.Next(Buckets) : (int)(StableHash(stickyKey) % Buckets);
        return bucket < _threshold;
    }

    /// <summary>
    /// FNV-1a over the key's UTF-16 code units: the same key lands in the same bucket in every
    /// process and every run. A key is the candidate's while its bucket is below the weight, so
    /// raising the weight only moves keys from baseline to candidate (consistent hashing on a ring
    /// of 10,000 points with the candidate's arc growing from 0).
    /// </summary>
    public static uint StableHash(string key)
    {
        var hash = 2166136261u;
        foreach (var c in key)
        {
            hash = (hash ^ c) * 16777619u;
        }
        // Final avalanche so keys differing in the last character spread over the ring.
        hash ^= hash >> 15;
        hash *= 0x2c1b3c6du;
        hash ^= hash >> 12;
        return hash;
    }

    public SplitStatsReport Report(string model, int baselineVersion) => new(model, Id, Weight,
        Baseline.Snapshot(baselineVersion), Candidate.Snapshot(CandidateVersion), ShadowResults.Snapshot());
}

/// <summary>Requests, errors and a latency histogram of one version within one split; lock-free.</summary>
public sealed class VersionStats
{
    // Bucket i holds latencies up to e^((i+1)/20) µs: 5 % resolution from 1 µs to ~3 min.
    private const int Resolution = 20;
    private const int Count = 380;
    private readonly long[] _histogram = new long[Count];
    private long _requests;
    private long _errors;
    private long _retries;

    public long Requests => Interlocked.Read(ref _requests);
    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>Candidate failures answered by the baseline instead.</summary>
    public long Retries => Interlocked.Read(ref _retries);

    public void Record(long startTimestamp, bool failed) => Record(Stopwatch.GetElapsedTime(startTimestamp), failed);

    /// <summary>A request that took <paramref name="elapsed"/>.</summary>
    public void Record(TimeSpan elapsed, bool failed)
    {
        var micros = elapsed.Ticks / 10.0;
        Interlocked.Increment(ref _requests);
        if (failed)
        {
            Interlocked.Increment(ref _errors);
        }
        Interlocked.Increment(ref _histogram[Bucket(micros)]);
    }

    public void RecordRetry() => Interlocked.Increment(ref _retries);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Bucket(double micros) => micros <= 1 ? 0 : Math.Min(Count - 1, (int)(Math.Log(micros) * Resolution));

    public double PercentileMs(double p)
    {
        long total = 0;
        var counts = new long[Count];
        for (var i = 0; i < Count; i++)
        {
            total += counts[i] = Interlocked.Read(ref _histogram[i]);
        }
        if (total == 0)
        {
            return 0;
        }
        var rank = (long)Math.Ceiling(p * total);
        long seen = 0;
        for (var i = 0; i < Count; i++)
        {
            seen += counts[i];
            if (seen >= rank)
            {
                return Math.Exp((i + 1) / (double)Resolution) / 1000.0;
            }
        }
        return Math.Exp(Count / (double)Resolution) / 1000.0;
    }

    public VersionStatsSnapshot Snapshot(int version)
    {
        var requests = Requests;
        var errors = Errors;
        return new VersionStatsSnapshot(version, requests, errors, requests == 0 ? 0 : (double)errors / requests,
            Math.Round(PercentileMs(0.50), 3), Math.Round(PercentileMs(0.99), 3), Retries);
    }
}

/// <summary>What the shadow copies showed: compared answers, agreements, the candidate's prices.</summary>
public sealed class ShadowStats
{
    private long _compared;
    private long _agreed;
    private long _priced;
    private long _priceMicros;
    private long _dropped;

    public void Record(bool agreed, double? price)
    {
        Interlocked.Increment(ref _compared);
        if (agreed)
        {
            Interlocked.Increment(ref _agreed);
        }
        if (price is { } p)
        {
            Interlocked.Increment(ref _priced);
            Interlocked.Add(ref _priceMicros, (long)Math.Round(p * 1_000_000));
        }
    }

    public void RecordDropped() => Interlocked.Increment(ref _dropped);

    public ShadowStatsSnapshot? Snapshot()
    {
        var compared = Interlocked.Read(ref _compared);
        var dropped = Interlocked.Read(ref _dropped);
        if (compared == 0 && dropped == 0)
        {
            return null;
        }
        var priced = Interlocked.Read(ref _priced);
        return new ShadowStatsSnapshot(compared, compared == 0 ? 0 : (double)Interlocked.Read(ref _agreed) / compared,
            priced == 0 ? null : Interlocked.Read(ref _priceMicros) / 1_000_000.0 / priced, dropped);
    }
}

public sealed record VersionStatsSnapshot(int Version, long Requests, long Errors, double ErrorRate, double LatencyP50Ms, double LatencyP99Ms, long Retries = 0);

public sealed record ShadowStatsSnapshot(long Compared, double Agreement, double? AvgPrice, long Dropped);

/// <summary>The numbers of one split (one step window): baseline and candidate over the same window.</summary>
public sealed record SplitStatsReport(string Model, string SplitId, double Weight, VersionStatsSnapshot Baseline, VersionStatsSnapshot Candidate, ShadowStatsSnapshot? Shadow);

internal static class Utf8Keys
{
    public static string? Sticky(HttpRequest request, string? header)
        => header is not null && request.Headers.TryGetValue(header, out var values) && values.Count > 0 && !string.IsNullOrEmpty(values[0]) ? values[0] : null;

    public static readonly Encoding Utf8 = new UTF8Encoding(false);
}
