using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>
/// Typed reads of one JSON value for the decision readers (<see cref="ContractReader"/>,
/// <see cref="LegacyReader"/>): each accepts its type or null and otherwise rejects the event
/// with a reason naming the field. Hand-written on <see cref="Utf8JsonReader"/> so a well-formed
/// event allocates only the strings it keeps (see the <c>parse</c> benchmark).
/// </summary>
internal static class JsonFields
{
    /// <summary>
    /// Raw slices (unknown keys, verbatim objects) are copied without being transcoded by the
    /// reader: decoding them strictly rejects invalid UTF-8 instead of storing replacement characters.
    /// Same cost as the default decoder on valid text.
    /// </summary>
    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Length of the stack buffer property names are unescaped into; longer names (never a known one) allocate.</summary>
    internal const int NameBufferLength = 64;

    /// <summary>The current property name, unescaped, without allocating when it fits <paramref name="buffer"/>.</summary>
    internal static ReadOnlySpan<char> PropertyName(in Utf8JsonReader reader, Span<char> buffer)
    {
        var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        return length <= buffer.Length ? buffer[..reader.CopyString(buffer)] : reader.GetString();
    }

    /// <summary>A string field kept as it is (an identifier, model or strategy name): repeated values share one instance.</summary>
    internal static string? ReadValue(ref Utf8JsonReader reader, string field) => reader.TokenType switch
    {
        JsonTokenType.String => Values.Read(ref reader),
        JsonTokenType.Null => null,
        _ => throw new RejectException($"{field}: expected a string, got {Describe(reader.TokenType)}"),
    };

    /// <summary>A string field that is only validated (its object is kept verbatim).</summary>
    internal static void ExpectString(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null))
        {
            throw new RejectException($"{field}: expected a string, got {Describe(reader.TokenType)}");
        }
    }

    private static readonly InternedValues Values = new();

    /// <summary>
    /// Interns the short, low-cardinality strings of decisions (model, strategy and status names,
    /// user ids): looked up by their characters on the stack, so a value seen before costs no
    /// allocation. Bounded: after <see cref="MaxEntries"/> distinct values new ones are simply
    /// allocated.
    /// </summary>
    private sealed class InternedValues
    {
        private const int MaxEntries = 16_384;
        private const int MaxLength = 96;
        private readonly ConcurrentDictionary<string, string> _values = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _lookup;
        private int _count;

        public InternedValues() => _lookup = _values.GetAlternateLookup<ReadOnlySpan<char>>();

        public string Read(ref Utf8JsonReader reader)
        {
            var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
            if (length > MaxLength)
            {
                return reader.GetString()!;
            }
            Span<char> buffer = stackalloc char[MaxLength];
            var chars = buffer[..reader.CopyString(buffer)];
            if (_lookup.TryGetValue(chars, out var value))
            {
                return value;
            }
            value = new string(chars);
            if (Volatile.Read(ref _count) < MaxEntries && _values.TryAdd(value, value))
            {
                Interlocked.Increment(ref _count);
            }
            return value;
        }
    }

    internal static bool BeginObject(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return false;
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new RejectException($"{field}: expected an object, got {Describe(reader.TokenType)}");
        }
        return true;
    }

    internal static string? ReadString(ref Utf8JsonReader reader, string field) => reader.TokenType switch
    {
        JsonTokenType.String => reader.GetString(),
        JsonTokenType.Null => null,
        _ => throw new RejectException($"{field}: expected a string, got {Describe(reader.TokenType)}"),
    };

    internal static string? ReadHexId(ref Utf8JsonReader reader, string field, int length)
    {
        var value = ReadString(ref reader, field);
        if (value is null || value.Length == 0)
        {
            return null;
        }
        if (!DecisionParser.IsHex(value, length))
        {
            throw new RejectException($"{field}: expected {length} hex characters, got '{DecisionParser.Truncate(value)}'");
        }
        return value.ToLowerInvariant();
    }

    internal static long? ReadTimestamp(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new RejectException($"{field}: expected an ISO 8601 string, got {Describe(reader.TokenType)}");
        }
        if (reader.TryGetDateTimeOffset(out var value)
            || DateTimeOffset.TryParse(reader.GetString(), System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal, out value))
        {
            return value.ToUnixTimeMilliseconds();
        }
        throw new RejectException($"{field}: '{DecisionParser.Truncate(reader.GetString() ?? "")}' is not an ISO 8601 timestamp");
    }

    internal static long? ReadInt64(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
        {
            return value;
        }
        throw new RejectException($"{field}: expected an integer, got {Describe(reader.TokenType)}");
    }

    internal static int? ReadInt32(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value))
        {
            return value;
        }
        throw new RejectException($"{field}: expected an integer, got {Describe(reader.TokenType)}");
    }

    internal static double? ReadDouble(ref Utf8JsonReader reader, string field)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetDouble(out var value) && double.IsFinite(value))
        {
            return value;
        }
        throw new RejectException($"{field}: expected a number, got {Describe(reader.TokenType)}");
    }

    internal static bool? ReadBool(ref Utf8JsonReader reader, string field) => reader.TokenType switch
    {
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        JsonTokenType.Null => null,
        _ => throw new RejectException($"{field}: expected a boolean, got {Describe(reader.TokenType)}"),
    };

    internal static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };
}
