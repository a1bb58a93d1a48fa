namespace RouteIQ.Contracts;

/// <summary>
/// How a version is promoted (the trainer spec's or the request's <c>promotion</c> block, see
/// docs/specs promotion.md). Null or empty = today's blue/green switch.
/// </summary>
public sealed record Promotion
{
    public PromotionGate? Gate { get; init; }
    public PromotionShadow? Shadow { get; init; }
    public PromotionCanary? Canary { get; init; }

    /// <summary>The first problem of the block as (field, problem), naming the field as written (<c>promotion.canary.steps</c>); null when valid.</summary>
    public (string Field, string Problem)? Problem()
    {
        if (Gate is { } gate)
        {
            if (string.IsNullOrWhiteSpace(gate.Metric))
            {
                return ("promotion.gate.metric", "must name a metric of metrics.json");
            }
            if (!double.IsFinite(gate.MinDelta))
            {
                return ("promotion.gate.min_delta", "must be a number");
            }
            if (gate.MaxPriceRatio is { } ratio && (ratio <= 0 || !double.IsFinite(ratio)))
            {
                return ("promotion.gate.max_price_ratio", "must be a positive number");
            }
        }
        if (Shadow is { } shadow)
        {
            if (shadow.Seconds is <= 0 or > 86_400 || !double.IsFinite(shadow.Seconds))
            {
                return ("promotion.shadow.seconds", "must be in (0, 86400]");
            }
            if (shadow.MinRequests < 0)
            {
                return ("promotion.shadow.min_requests", "must be ≥ 0");
            }
        }
        if (Canary is not { } canary)
        {
            return null;
        }
        if (canary.Steps is not { Count: > 0 } steps || steps.Any(s => s is <= 0 or > 100 || !double.IsFinite(s)))
        {
            return ("promotion.canary.steps", "must be a non-empty list of percentages in (0, 100]");
        }
        for (var i = 1; i < steps.Count; i++)
        {
            if (steps[i] <= steps[i - 1])
            {
                return ("promotion.canary.steps", "must increase");
            }
        }
        if (canary.StepSeconds is < 0 or > 86_400 || !double.IsFinite(canary.StepSeconds))
        {
            return ("promotion.canary.step_seconds", "must be between 0 and 86400");
        }
        if (canary.MinRequests < 0)
        {
            return ("promotion.canary.min_requests", "must be ≥ 0");
        }
        if (canary.MaxErrorRate is < 0 or > 1 || !double.IsFinite(canary.MaxErrorRate))
        {
            return ("promotion.canary.max_error_rate", "must be between 0 and 1");
        }
        if (canary.MaxLatencyP99Ratio <= 0 || !double.IsFinite(canary.MaxLatencyP99Ratio))
        {
            return ("promotion.canary.max_latency_p99_ratio", "must be a positive number");
        }
        if (StickyHeader(canary.Sticky, out _) is { } sticky)
        {
            return ("promotion.canary.sticky", sticky);
        }
        if (canary.MaxStepSeconds is { } max && (max < canary.StepSeconds || !double.IsFinite(max)))
        {
            return ("promotion.canary.max_step_seconds", "must be ≥ step_seconds");
        }
        return null;
    }

    /// <summary>Parses <c>header:NAME</c> or <c>none</c> into the header name (null for none); returns a problem or null.</summary>
    public static string? StickyHeader(string? sticky, out string? header)
    {
        header = null;
        if (string.IsNullOrWhiteSpace(sticky) || sticky == "none")
        {
            return null;
        }
        if (sticky.StartsWith("header:", StringComparison.Ordinal) && sticky.Length > 7
            && sticky[7..].All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            header = sticky[7..];
            return null;
        }
        return "must be \"none\" or \"header:NAME\"";
    }
}

/// <summary>Offline comparison of the candidate's <c>metrics.json</c> with production's, before any traffic.</summary>
public sealed record PromotionGate
{
    /// <summary>Metric compared (default <c>avg_quality</c>).</summary>
    public string Metric { get; init; } = "avg_quality";

    /// <summary>candidate − production must be ≥ this.</summary>
    public double MinDelta { get; init; }

    /// <summary>candidate <c>avg_price</c> ÷ production <c>avg_price</c> must be ≤ this (null = not checked).</summary>
    public double? MaxPriceRatio { get; init; }
}

/// <summary>Copies of production requests to the candidate, answered by production only.</summary>
public sealed record PromotionShadow
{
    public double Seconds { get; init; } = 60;
    public int MinRequests { get; init; } = 200;
}

public sealed record PromotionCanary
{
    /// <summary>Percent of the stable endpoint's traffic for the candidate, per step; the last is 100.</summary>
    public IReadOnlyList<double> Steps { get; init; } = [5, 25, 50, 100];

    public double StepSeconds { get; init; } = 60;
    public int MinRequests { get; init; } = 200;
    public double MaxErrorRate { get; init; } = 0.01;
    public double MaxLatencyP99Ratio { get; init; } = 2.0;

    /// <summary><c>header:NAME</c> (same key → same version within a step) or <c>none</c>.</summary>
    public string Sticky { get; init; } = "none";

    /// <summary>A step with fewer than <see cref="MinRequests"/> candidate requests after this long aborts (default 10 × <see cref="StepSeconds"/>).</summary>
    public double? MaxStepSeconds { get; init; }
}
