using System.Text;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>Seeded mutations of event bodies: flipped, inserted and removed bytes, truncation, invalid UTF-8, hostile values.</summary>
public sealed class HostileBytes(int seed)
{
    private readonly Random _random = new(seed);

    private static readonly byte[][] Splices =
    [
        [0xFF], [0xFE, 0xFF], [0xC0, 0x80], [0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x00],
        "\\ud800"u8.ToArray(), "\\u0000"u8.ToArray(), "NaN"u8.ToArray(), "-Infinity"u8.ToArray(), "-1"u8.ToArray(),
        "99999999999999999999999"u8.ToArray(), "\"\""u8.ToArray(), "{"u8.ToArray(), "}"u8.ToArray(), "["u8.ToArray(), "]"u8.ToArray(),
        ":"u8.ToArray(), ","u8.ToArray(), "\""u8.ToArray(), "\\"u8.ToArray(), "null"u8.ToArray(), "1e400"u8.ToArray(),
        Encoding.UTF8.GetBytes(new string('[', 80)), Encoding.UTF8.GetBytes("\"\u202Eé€😀\""),
    ];

    private static readonly string[] HostileFields =
    [
        ",\"outcome\":{\"input_tokens\":-1}", ",\"timestamp_unix_ms\":-86400000", ",\"timestamp_utc\":\"0001-01-01T00:00:00Z\"",
        ",\"timestamp_unix_ms\":9223372036854775807", ",\"timestamp_utc\":\"9999-12-31T23:59:59Z\"", ",\"input\":{\"query_length\":1e400}",
        ",\"event_id\":\"" + new string('x', 300) + "\"", ",\"trace_id\":\"zz\"", ",\"contract_version\":\"v2\"",
        ",\"custom_attributes\":{\"query_text\":\"\\ud800\\udfff\\u0000\"}", ",\"outcome\":{\"total_tokens\":1.5}",
    ];

    public int Next(int max) => _random.Next(max);

    /// <summary>Half the time the event unchanged, otherwise one to three mutations of it.</summary>
    public byte[] Mutate(byte[] body)
    {
        if (_random.Next(2) == 0)
        {
            return body;
        }
        var bytes = new List<byte>(body);
        for (var n = 1 + _random.Next(3); n > 0; n--)
        {
            switch (_random.Next(7))
            {
                case 0 when bytes.Count > 0:
                    bytes[_random.Next(bytes.Count)] ^= (byte)(1 << _random.Next(8));
                    break;
                case 1:
                    bytes.InsertRange(_random.Next(bytes.Count + 1), Splices[_random.Next(Splices.Length)]);
                    break;
                case 2 when bytes.Count > 0:
                    var at = _random.Next(bytes.Count);
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + _random.Next(8)));
                    break;
                case 3:
                    var keep = _random.Next(bytes.Count + 1);
                    bytes.RemoveRange(keep, bytes.Count - keep);
                    break;
                case 4 when bytes.Count > 1 && bytes[^1] == (byte)'}':
                    bytes.InsertRange(bytes.Count - 1, Encoding.UTF8.GetBytes(HostileFields[_random.Next(HostileFields.Length)]));
                    break;
                case 5:
                    var quote = bytes.Count == 0 ? -1 : bytes.IndexOf((byte)'"', _random.Next(bytes.Count));
                    if (quote >= 0)
                    {
                        bytes.InsertRange(quote + 1, Splices[_random.Next(8)]);
                    }
                    break;
                default:
                    bytes.Insert(_random.Next(bytes.Count + 1), (byte)_random.Next(256));
                    break;
            }
        }
        return [.. bytes];
    }

    /// <summary>A mutated body that stays one line: no newline in it and never blank (the importers skip blank lines).</summary>
    public byte[] MutateLine(byte[] body)
    {
        var line = Mutate(body);
        for (var i = 0; i < line.Length; i++)
        {
            if (line[i] == (byte)'\n')
            {
                line[i] = (byte)' ';
            }
        }
        return line.Any(b => b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or 0xEF or 0xBB or 0xBF)) ? line : [.. line, (byte)'x'];
    }

    /// <summary>Arbitrary bytes: random, or a prefix of <paramref name="body"/>.</summary>
    public byte[] Garbage(byte[] body)
    {
        if (_random.Next(2) == 0)
        {
            var bytes = new byte[_random.Next(1, 512)];
            _random.NextBytes(bytes);
            return bytes;
        }
        return body[.._random.Next(body.Length)];
    }
}
