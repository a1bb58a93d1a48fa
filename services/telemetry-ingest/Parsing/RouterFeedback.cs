namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>Who graded a response (<c>source</c> of <c>routeiq.router_feedback.v1</c>).</summary>
public static class FeedbackSources
{
    public const string User = "user";
    public const string Judge = "judge";
    public const string Task = "task";
    public const string Benchmark = "benchmark";
    public const string Heuristic = "heuristic";

    /// <summary>The default precedence of a dataset build's labels: the first source present wins.</summary>
    public static readonly IReadOnlyList<string> DefaultPrecedence = [User, Judge, Task, Benchmark, Heuristic];

    public static bool IsKnown(string value) => DefaultPrecedence.Contains(value);
}

/// <summary>
/// One accepted grade (<c>routeiq.router_feedback.v1</c>), flattened into the <c>feedback</c>
/// table. It joins its decision by <see cref="DecisionEventId"/>, else by
/// (<see cref="TraceId"/>, <see cref="SpanId"/>) — at dataset build, so a grade may arrive before
/// its decision (an orphan until then) or days after it.
/// </summary>
public sealed class RouterFeedback
{
    public required string FeedbackId { get; set; }
    public string? DecisionEventId { get; set; }
    public string? TraceId { get; set; }
    public string? SpanId { get; set; }

    /// <summary>The graded model; null = the decision's selected deployment.</summary>
    public string? ModelName { get; set; }

    public double Score { get; set; }

    /// <summary>judge, user, task, heuristic or benchmark (<see cref="FeedbackSources"/>).</summary>
    public required string Source { get; set; }

    public string? JudgeModel { get; set; }
    public string? Rubric { get; set; }
    public long TimestampMs { get; set; }

    /// <summary>Where the grade came in (<see cref="IngestSources"/>).</summary>
    public string IngestSource { get; set; } = IngestSources.Bus;

    public string ContractVersion { get; set; } = "v1";

    /// <summary>JSON object: <c>custom_attributes</c> and <c>extra</c> (unknown keys), or null.</summary>
    public string? AttributesJson { get; set; }
}
