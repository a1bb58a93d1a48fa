using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>Values an input knows about an event beyond its JSON (the span around an OTLP event, the delivery time).</summary>
public readonly record struct DecisionContext(string Source, string? TraceId = null, string? SpanId = null, long? TimestampMs = null);

/// <summary>
/// The one parser every input shares: reads a <c>routeiq.router_decision.v1</c> object (or a
/// legacy JSONL record, see <see cref="LegacyRecord"/>) with <see cref="Utf8JsonReader"/> in a
/// single pass, validates it against the contract's acceptance rules, and returns either a
/// <see cref="RouterDecision"/> or a rejection reason naming the field. It never throws for
/// bad input. Thread-safe.
/// </summary>
/// <remarks>
/// In three parts: <see cref="ContractReader"/> reads the contract, <see cref="DecisionValidator"/>
/// holds the acceptance rules, <see cref="LegacyReader"/> reads the legacy record; this class
/// turns what they throw into rejection reasons.
/// </remarks>
public sealed class DecisionParser(TelemetryIngestOptions options, TimeProvider timeProvider)
{
    public const string ContractPrefix = "routeiq.router_decision";
    public const string ContractName = "routeiq.router_decision.v1";
    public const string PayloadAttribute = "routeiq.router_decision.payload";
    public const int MaxEventBytes = 1024 * 1024;

    public static readonly IReadOnlyList<string> OutcomeStatuses = ["success", "failure", "fallback", "error", "no_candidates", "timeout"];
    public static readonly IReadOnlyList<string> ContractVersions = ["v1", "v1.0", "v1.1"];

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Largest token count accepted: sums over billions of events must still fit a 64-bit total.</summary>
    public const long MaxTokenCount = 1_000_000_000_000;

    private readonly DecisionValidator _validator = new(options, timeProvider);

    public bool StoreQueryText => options.StoreQueryText;

    public ParseResult Parse(ReadOnlySpan<byte> json, in DecisionContext context)
    {
        if (json.Length > MaxEventBytes)
        {
            return ParseResult.Reject($"event is {json.Length} bytes, over the 1 MiB limit");
        }
        try
        {
            var reader = new Utf8JsonReader(json, ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return ParseResult.Reject("expected a JSON object");
            }
            var state = new ParseState();
            ParseScratch.Current.Begin();
            ContractReader.ReadTopLevel(ref reader, json, ref state);
            if (reader.Read())
            {
                return ParseResult.Reject("malformed JSON: unexpected data after the object");
            }
            if (state.ContractNameSeen || !state.Legacy.HasAny)
            {
                return ParseResult.Accept(ContractReader.Complete(ref state, json, context, _validator, options.StoreQueryText));
            }
            var legacy = LegacyReader.ToRecord(ref state, json, context, out var extraJson);
            return FromLegacyCore(legacy, context.Source, extraJson);
        }
        catch (RejectException ex)
        {
            return ParseResult.Reject(ex.Message);
        }
        catch (JsonException ex)
        {
            return ParseResult.Reject($"malformed JSON: {FirstSentence(ex.Message)}");
        }
        catch (InvalidOperationException ex)
        {
            // Utf8JsonReader transcodes strings lazily: invalid UTF-8 inside a string value
            // surfaces here (GetString/CopyString), not as a JsonException.
            return ParseResult.Reject($"malformed JSON: {FirstSentence(ex.Message)}");
        }
        catch (DecoderFallbackException)
        {
            return ParseResult.Reject("malformed JSON: invalid UTF-8");
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
        {
            // Whatever else bad bytes can raise: the parser only accepts or rejects.
            return ParseResult.Reject($"malformed input: {FirstSentence(ex.Message)}");
        }
        finally
        {
            ParseScratch.End();
        }
    }

    public ParseResult Parse(string json, in DecisionContext context)
    {
        var max = Encoding.UTF8.GetMaxByteCount(json.Length);
        var rented = ArrayPool<byte>.Shared.Rent(Math.Min(max, MaxEventBytes + 4));
        try
        {
            if (Encoding.UTF8.GetByteCount(json) > MaxEventBytes)
            {
                return ParseResult.Reject($"event is over the 1 MiB limit");
            }
            var length = Encoding.UTF8.GetBytes(json, rented);
            return Parse(rented.AsSpan(0, length), context);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>A legacy gen_ai span (Jaeger tags) or an extracted legacy record, as a decision; never throws for bad input.</summary>
    public ParseResult FromLegacy(LegacyRecord legacy, string source, string? extraJson = null)
    {
        try
        {
            return FromLegacyCore(legacy, source, extraJson);
        }
        catch (ArgumentException ex)
        {
            // A string JSON cannot carry (a lone surrogate from an escaped \ud800).
            return ParseResult.Reject($"malformed input: {FirstSentence(ex.Message)}");
        }
    }

    private ParseResult FromLegacyCore(LegacyRecord legacy, string source, string? extraJson)
        => _validator.LegacyProblem(legacy) is { } reason
            ? ParseResult.Reject(reason)
            : ParseResult.Accept(LegacyReader.ToDecision(legacy, source, extraJson, _validator.NowMs, options.StoreQueryText));

    internal static bool IsHex(string value, int length)
    {
        if (value.Length != length)
        {
            return false;
        }
        foreach (var c in value)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>A stable UUID-shaped id for events that carry none, so redeliveries still dedupe.</summary>
    public static string DeriveId(string kind, string a, string b)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{kind}\n{a}\n{b}"), hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true).ToString("D");
    }

    /// <summary>A value quoted in a rejection reason: at most 64 characters.</summary>
    internal static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";

    /// <summary>A System.Text.Json message without its " Path: …" part.</summary>
    internal static string FirstSentence(string message)
    {
        var i = message.IndexOf(" Path:", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message;
    }
}

/// <summary>Thrown inside a parser to reject the event it reads with this reason (never escapes a parser).</summary>
internal sealed class RejectException(string reason) : Exception(reason);
