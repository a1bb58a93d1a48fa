namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>
/// The acceptance rules a decision must meet once it is read (the contract's name and version,
/// known outcome statuses, plausible timestamps, token counts; for legacy records a model and
/// well-formed ids), each giving a reason that names the field. Checked in the order below: an
/// event that breaks several rules is rejected for the first. Type rules (a string where a string
/// is expected) are applied while reading, by <see cref="JsonFields"/>.
/// </summary>
internal sealed class DecisionValidator(TelemetryIngestOptions options, TimeProvider timeProvider)
{
    public long NowMs => timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>
    /// Why a contract event cannot be accepted, or null. <paramref name="d"/> has its version
    /// (defaulted) and its timestamp; <paramref name="timestampField"/> names where the timestamp
    /// came from, null when it is the time of receipt (not checked).
    /// </summary>
    public string? ContractProblem(RouterDecision d, string? contractName, string? timestampField)
    {
        if (contractName is null)
        {
            return $"contract_name: missing (expected {DecisionParser.ContractName})";
        }
        if (!contractName.StartsWith(DecisionParser.ContractPrefix, StringComparison.Ordinal))
        {
            return $"contract_name: '{DecisionParser.Truncate(contractName)}' is not a routeiq.router_decision contract";
        }
        if (d.ContractVersion is not { } version || !DecisionParser.ContractVersions.Contains(version))
        {
            return $"contract_version: unsupported version '{DecisionParser.Truncate(d.ContractVersion ?? "")}' (supported: {string.Join(", ", DecisionParser.ContractVersions)})";
        }
        if (d.OutcomeStatus is { } status && !DecisionParser.OutcomeStatuses.Contains(status))
        {
            return $"outcome.status: unknown value '{DecisionParser.Truncate(status)}' (expected one of {string.Join(", ", DecisionParser.OutcomeStatuses)})";
        }
        if (timestampField is not null && TimestampProblem(d.TimestampMs, timestampField) is { } timestamp)
        {
            return timestamp;
        }
        return CountsProblem(d.InputTokens, d.OutputTokens, d.TotalTokens, "outcome.input_tokens", "outcome.output_tokens", "outcome.total_tokens");
    }

    /// <summary>Why a legacy record cannot be accepted, or null.</summary>
    public string? LegacyProblem(LegacyRecord legacy)
    {
        if (string.IsNullOrEmpty(legacy.Model))
        {
            return "legacy span: gen_ai.response.model / gen_ai.request.model missing";
        }
        if (legacy.TraceId is { } t && !DecisionParser.IsHex(t, 32))
        {
            return "trace_id: expected 32 hex characters";
        }
        if (legacy.SpanId is { } s && !DecisionParser.IsHex(s, 16))
        {
            return "span_id: expected 16 hex characters";
        }
        if (CountsProblem(legacy.InputTokens, legacy.OutputTokens, legacy.TotalTokens, "input_tokens", "output_tokens", "token_num") is { } counts)
        {
            return counts;
        }
        return legacy.TimestampMs is { } timestampMs ? TimestampProblem(timestampMs, "timestamp") : null;
    }

    /// <summary>Token counts are counts: a negative one turned summary totals negative, a huge one overflows them.</summary>
    private static string? CountsProblem(long? input, long? output, long? total, string inputField, string outputField, string totalField)
        => CountProblem(input, inputField) ?? CountProblem(output, outputField) ?? CountProblem(total, totalField);

    private static string? CountProblem(long? value, string field)
        => value is not { } v || v is >= 0 and <= DecisionParser.MaxTokenCount ? null
            : v < 0 ? $"{field}: must not be negative (got {v})"
            : $"{field}: over {DecisionParser.MaxTokenCount} (got {v})";

    /// <summary>Event times before 1970 or further ahead than the allowed clock skew are rejected, naming the field.</summary>
    private string? TimestampProblem(long timestampMs, string field)
    {
        if (timestampMs < 0)
        {
            return $"{field}: before 1970-01-01 (epoch milliseconds {timestampMs})";
        }
        var latest = NowMs + options.MaxFutureSkewSeconds * 1000L;
        return timestampMs > latest
            ? $"{field}: more than {options.MaxFutureSkewSeconds} s in the future (epoch milliseconds {timestampMs})"
            : null;
    }
}
