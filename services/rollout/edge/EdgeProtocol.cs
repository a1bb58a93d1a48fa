using System.Text.Json;
using System.Text.Json.Serialization;

namespace RouteIQ.Rollout.Edge;

/// <summary>
/// The line protocol between rollout and its edge process: one JSON object per line. Rollout
/// writes <see cref="RouteTableMessage"/> to the edge's stdin; the edge writes
/// <see cref="EdgeEvent"/> to its stdout (its logs go to stderr). The edge stops when its
/// stdin closes — rollout exiting, even killed, never leaves an edge behind holding the port.
/// </summary>
public sealed record RouteTableMessage(long Seq, string? Default, IReadOnlyList<RouteEntry> Routes);

public sealed record RouteEntry(string Model, int Version, string Url, SplitEntry? Split = null);

/// <summary>A candidate sharing the route's traffic (see <see cref="TrafficSplit"/>); a new <paramref name="Id"/> starts a new stats window.</summary>
public sealed record SplitEntry(string Id, int CandidateVersion, string CandidateUrl, double Weight, string? StickyHeader, bool Shadow, int CandidateTimeoutMs);

/// <summary>Exactly one of the fields is set.</summary>
public sealed record EdgeEvent
{
    /// <summary>Listening on this URL.</summary>
    public string? Ready { get; init; }

    /// <summary>Could not start (the reason); the process exits with <see cref="EdgeProtocol.StartFailedExitCode"/>.</summary>
    public string? Error { get; init; }

    /// <summary>The route table with this sequence number is in effect.</summary>
    public long? Ack { get; init; }

    /// <summary>The first request was forwarded to this route.</summary>
    public ForwardedEvent? Forwarded { get; init; }

    /// <summary>The numbers of a traffic split so far (sent a few times a second while one is in effect).</summary>
    public SplitStatsReport? Stats { get; init; }
}

/// <param name="Timestamp"><see cref="System.Diagnostics.Stopwatch"/> timestamp (the system's monotonic clock).</param>
public sealed record ForwardedEvent(string Model, int Version, string Url, long Timestamp);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RouteTableMessage))]
[JsonSerializable(typeof(EdgeEvent))]
internal sealed partial class EdgeJsonContext : JsonSerializerContext;

public static class EdgeProtocol
{
    public const int StartFailedExitCode = 3;

    public static string Serialize(RouteTableMessage message) => JsonSerializer.Serialize(message, EdgeJsonContext.Default.RouteTableMessage);

    public static string Serialize(EdgeEvent message) => JsonSerializer.Serialize(message, EdgeJsonContext.Default.EdgeEvent);

    public static RouteTableMessage? ReadTable(string line) => JsonSerializer.Deserialize(line, EdgeJsonContext.Default.RouteTableMessage);

    public static EdgeEvent? ReadEvent(string line) => JsonSerializer.Deserialize(line, EdgeJsonContext.Default.EdgeEvent);

    public static ServerRoute ToRoute(RouteEntry r) => new(r.Model, r.Version, r.Url)
    {
        Split = r.Split is { } s ? new TrafficSplit(s.Id, s.CandidateVersion, s.CandidateUrl, s.Weight, s.StickyHeader, s.Shadow, s.CandidateTimeoutMs) : null,
    };

    public static RouteEntry ToEntry(ServerRoute r) => new(r.Model, r.Version, r.ServerUrl,
        r.Split is { } s ? new SplitEntry(s.Id, s.CandidateVersion, s.CandidateUrl, s.Weight, s.StickyHeader, s.Shadow, s.CandidateTimeoutMs) : null);
}
