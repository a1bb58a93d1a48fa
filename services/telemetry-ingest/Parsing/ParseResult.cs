namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>Either a decision, a grade (<see cref="RouterFeedback"/>), or the reason it was rejected (naming the field).</summary>
public readonly record struct ParseResult(RouterDecision? Decision, string? Reason, RouterFeedback? Feedback = null)
{
    public bool IsAccepted => Decision is not null || Feedback is not null;

    public static ParseResult Accept(RouterDecision decision) => new(decision, null);

    public static ParseResult Accept(RouterFeedback feedback) => new(null, null, feedback);

    public static ParseResult Reject(string reason) => new(null, reason);
}
