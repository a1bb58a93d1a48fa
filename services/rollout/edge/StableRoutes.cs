using System.Collections.Immutable;
using System.Diagnostics;

namespace RouteIQ.Rollout.Edge;

/// <summary>Where one model's requests go right now.</summary>
public sealed class ServerRoute(string model, int version, string serverUrl)
{
    private long _firstForwardedTimestamp;

    public string Model { get; } = model;
    public int Version { get; } = version;
    public string ServerUrl { get; } = serverUrl.TrimEnd('/');

    internal string VersionText { get; } = version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A candidate sharing this route's traffic (canary or shadow), or null.</summary>
    public TrafficSplit? Split { get; init; }

    /// <summary><see cref="Stopwatch"/> timestamp when the candidate answered its readiness probe (0 when adopted).</summary>
    public long HealthyTimestamp { get; init; }

    /// <summary>
    /// <see cref="Stopwatch"/> timestamp of the first request forwarded to this route (0 until then).
    /// Stopwatch timestamps are the system's monotonic clock, so the edge process's value compares
    /// with rollout's <see cref="HealthyTimestamp"/>.
    /// </summary>
    public long FirstForwardedTimestamp => Interlocked.Read(ref _firstForwardedTimestamp);

    /// <summary>Time from "candidate healthy" to the first request forwarded to it, once both happened.</summary>
    public TimeSpan? SwitchTime => HealthyTimestamp != 0 && FirstForwardedTimestamp != 0
        ? Stopwatch.GetElapsedTime(HealthyTimestamp, FirstForwardedTimestamp)
        : null;

    public bool SameTarget(ServerRoute other) => Model == other.Model && Version == other.Version && ServerUrl == other.ServerUrl
        && (Split is null ? other.Split is null : Split.SameAs(other.Split));

    /// <summary>Records the first forward; true only for the call that recorded it.</summary>
    internal bool MarkForwarded(long timestamp)
        => Interlocked.Read(ref _firstForwardedTimestamp) == 0
           && Interlocked.CompareExchange(ref _firstForwardedTimestamp, timestamp, 0) == 0;
}

/// <summary>
/// The routing table of the stable endpoint. Each change builds a new immutable table and
/// swaps one reference, so a request sees either the old or the new server, never a mix,
/// and a switch costs no lock on the request path.
/// </summary>
public sealed class StableRoutes
{
    private sealed record Table(ImmutableDictionary<string, ServerRoute> Routes, string? DefaultModel);

    private Table _table = new(ImmutableDictionary.Create<string, ServerRoute>(StringComparer.Ordinal), null);
    private readonly Lock _writeLock = new();

    /// <summary>Split numbers the edge process reported, by model (process mode).</summary>
    internal System.Collections.Concurrent.ConcurrentDictionary<string, SplitStatsReport> Reported { get; } = new(StringComparer.Ordinal);

    /// <summary>The numbers of <paramref name="model"/>'s split: the edge's report in process mode, else the local counters.</summary>
    public SplitStatsReport? SplitStats(string model, bool reported)
    {
        var route = Find(model);
        if (route?.Split is not { } split)
        {
            return null;
        }
        if (!reported)
        {
            return split.Report(model, route.Version);
        }
        return Reported.TryGetValue(model, out var r) && r.SplitId == split.Id ? r : null;
    }

    public ServerRoute? Find(string? model)
    {
        var table = Volatile.Read(ref _table);
        var name = model ?? table.DefaultModel;
        return name is not null && table.Routes.TryGetValue(name, out var route) ? route : null;
    }

    public string? DefaultModel => Volatile.Read(ref _table).DefaultModel;

    /// <summary>The routes and the default model of one table (never a mix of two).</summary>
    public (IReadOnlyList<ServerRoute> Routes, string? DefaultModel) Snapshot()
    {
        var table = Volatile.Read(ref _table);
        return (table.Routes.Values.ToList(), table.DefaultModel);
    }

    /// <summary>Points <paramref name="route"/>'s model at its server in one atomic swap.</summary>
    public void Set(ServerRoute route, bool makeDefault)
    {
        lock (_writeLock)
        {
            var current = _table;
            Volatile.Write(ref _table, new Table(current.Routes.SetItem(route.Model, route),
                makeDefault || current.DefaultModel is null ? route.Model : current.DefaultModel));
            RetireReplaced(current.Routes, _table.Routes);
        }
    }

    /// <summary>Splits of <paramref name="before"/> that <paramref name="after"/> no longer holds stop (their queued shadow copies are dropped).</summary>
    private static void RetireReplaced(ImmutableDictionary<string, ServerRoute> before, ImmutableDictionary<string, ServerRoute> after)
    {
        foreach (var (model, route) in before)
        {
            if (route.Split is { } split && !(after.TryGetValue(model, out var now) && ReferenceEquals(now.Split, split)))
            {
                split.Retire();
            }
        }
    }

    public void SetDefault(string model)
    {
        lock (_writeLock)
        {
            Volatile.Write(ref _table, _table with { DefaultModel = model });
        }
    }

    public void Remove(string model)
    {
        lock (_writeLock)
        {
            var current = _table;
            Volatile.Write(ref _table, new Table(current.Routes.Remove(model), current.DefaultModel));
            RetireReplaced(current.Routes, _table.Routes);
        }
    }

    /// <summary>
    /// Replaces the whole table in one swap (the edge process applying rollout's table). A route
    /// that still points at the same server keeps its object, so its first forward is not reported twice.
    /// </summary>
    public void Replace(IEnumerable<ServerRoute> routes, string? defaultModel)
    {
        lock (_writeLock)
        {
            var current = _table.Routes;
            var builder = ImmutableDictionary.CreateBuilder<string, ServerRoute>(StringComparer.Ordinal);
            foreach (var route in routes)
            {
                builder[route.Model] = current.TryGetValue(route.Model, out var existing) && existing.SameTarget(route) ? existing : route;
            }
            Volatile.Write(ref _table, new Table(builder.ToImmutable(), defaultModel));
            RetireReplaced(current, _table.Routes);
        }
    }
}
