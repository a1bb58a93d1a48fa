namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>Either a decision or the reason it was rejected (naming the field).</summary>
public readonly record struct ParseResult(RouterDecision? Decision, string? Reason)
{
    public bool IsAccepted => Decision is not null;

    public static ParseResult Accept(RouterDecision decision) => new(decision, null);

    public static ParseResult Reject(string reason) => new(null, reason);
}
