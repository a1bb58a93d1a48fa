using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

/// <summary>A model file that is not a valid RouteIQ router model; the message says what is wrong.</summary>
public sealed class InvalidModelException(string problem) : Exception(problem);

/// <summary>
/// Writes the router model file (docs/model-format.md): magic <c>RIQROUTR</c>, format version,
/// header length, a UTF-8 JSON header, little-endian float32 arrays, and a SHA-256 of all of
/// that as a trailer. Nothing in it is executable; the same model always gives the same bytes.
/// </summary>
public sealed class ModelFileWriter
{
    public const int FormatVersion = 1;
    public static ReadOnlySpan<byte> Magic => "RIQROUTR"u8;

    private readonly List<(string Name, float[] Data, int[] Shape)> _arrays = [];

    public void Add(string name, float[] data, params int[] shape)
    {
        if (_arrays.Any(a => a.Name == name))
        {
            throw new ArgumentException($"array '{name}' added twice", nameof(name));
        }
        var count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != data.Length)
        {
            throw new ArgumentException($"array '{name}' has {data.Length} values for shape [{string.Join(',', shape)}]", nameof(data));
        }
        _arrays.Add((name, data, shape));
    }

    public byte[] ToBytes(JsonObject header)
    {
        var arrays = new JsonArray();
        long offset = 0;
        foreach (var (name, data, shape) in _arrays)
        {
            arrays.Add(new JsonObject
            {
                ["name"] = name,
                ["dtype"] = "float32",
                ["shape"] = new JsonArray(shape.Select(s => (JsonNode)s).ToArray()),
                ["offset"] = offset,
            });
            offset += data.Length * 4L;
        }
        header["arrays"] = arrays;
        header["payload_bytes"] = offset;
        var json = Encoding.UTF8.GetBytes(header.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        using var ms = new MemoryStream();
        ms.Write(Magic);
        Span<byte> u32 = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(u32, FormatVersion);
        ms.Write(u32);
        BinaryPrimitives.WriteUInt32LittleEndian(u32, (uint)json.Length);
        ms.Write(u32);
        ms.Write(json);
        foreach (var (_, data, _) in _arrays)
        {
            if (BitConverter.IsLittleEndian)
            {
                ms.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            }
            else
            {
                foreach (var v in data)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(u32, v);
                    ms.Write(u32);
                }
            }
        }
        var hash = SHA256.HashData(ms.GetBuffer().AsSpan(0, (int)ms.Length));
        ms.Write(hash);
        return ms.ToArray();
    }
}

/// <summary>Reads and fully validates a model file before anything in it is used.</summary>
public sealed class ModelFileReader
{
    public const long MaxFileBytes = 2L * 1024 * 1024 * 1024 - 1;
    private const int Preamble = 16;
    private const int Trailer = 32;
    private readonly Dictionary<string, (int[] Shape, float[] Data)> _arrays = new(StringComparer.Ordinal);

    private ModelFileReader(JsonObject header) => Header = header;

    public JsonObject Header { get; }

    public static ModelFileReader Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < Preamble + Trailer)
        {
            throw new InvalidModelException($"the file is truncated ({bytes.Length} bytes is shorter than any model file)");
        }
        if (!bytes[..8].SequenceEqual(ModelFileWriter.Magic))
        {
            throw new InvalidModelException("not a RouteIQ router model (bad magic; expected 'RIQROUTR')");
        }
        var version = BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
        if (version != ModelFileWriter.FormatVersion)
        {
            throw new InvalidModelException($"unsupported model format version {version} (this build reads version {ModelFileWriter.FormatVersion})");
        }
        var headerLength = BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]);
        if (headerLength > bytes.Length - Preamble - Trailer)
        {
            throw new InvalidModelException($"the file is truncated (header claims {headerLength} bytes, file has {bytes.Length})");
        }
        var body = bytes[..^Trailer];
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(body, hash);
        if (!hash.SequenceEqual(bytes[^Trailer..]))
        {
            throw new InvalidModelException("checksum mismatch: the file is corrupt, truncated or was modified after training");
        }
        JsonObject header;
        try
        {
            header = JsonNode.Parse(body.Slice(Preamble, (int)headerLength)) as JsonObject
                ?? throw new InvalidModelException("the header is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new InvalidModelException($"the header is not valid JSON ({ex.Message})");
        }
        var reader = new ModelFileReader(header);
        var payload = body[(Preamble + (int)headerLength)..];
        if (ModelHeader.Long(header, "payload_bytes") != payload.Length)
        {
            throw new InvalidModelException($"payload is {payload.Length} bytes, header says {ModelHeader.Long(header, "payload_bytes")}");
        }
        if (header["arrays"] is not JsonArray arrays)
        {
            throw new InvalidModelException("header field 'arrays' is missing");
        }
        long expectedOffset = 0;
        foreach (var node in arrays)
        {
            if (node is not JsonObject a)
            {
                throw new InvalidModelException("header field 'arrays' holds a non-object");
            }
            var name = ModelHeader.String(a, "name");
            if (ModelHeader.String(a, "dtype") != "float32")
            {
                throw new InvalidModelException($"array '{name}': unsupported dtype");
            }
            var shape = (a["shape"] as JsonArray ?? throw new InvalidModelException($"array '{name}': 'shape' missing"))
                .Select(s => s is JsonValue v && v.TryGetValue<int>(out var d) && d >= 0 ? d : throw new InvalidModelException($"array '{name}': bad shape"))
                .ToArray();
            var count = shape.Aggregate(1L, (x, y) => x * y);
            var offset = ModelHeader.Long(a, "offset");
            if (offset != expectedOffset || offset + count * 4 > payload.Length)
            {
                throw new InvalidModelException($"array '{name}' lies outside the payload");
            }
            var data = new float[count];
            payload.Slice((int)offset, (int)(count * 4)).CopyTo(MemoryMarshal.AsBytes(data.AsSpan()));
            if (!BitConverter.IsLittleEndian)
            {
                var raw = payload.Slice((int)offset, (int)(count * 4));
                for (var i = 0; i < data.Length; i++)
                {
                    data[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(i * 4)..]);
                }
            }
            if (!reader._arrays.TryAdd(name, (shape, data)))
            {
                throw new InvalidModelException($"array '{name}' appears twice");
            }
            expectedOffset = offset + count * 4;
        }
        if (expectedOffset != payload.Length)
        {
            throw new InvalidModelException("the payload holds bytes no array accounts for");
        }
        return reader;
    }

    /// <summary>The array called <paramref name="name"/>, checked against the shape the caller expects.</summary>
    public float[] Array(string name, params int[] shape)
    {
        if (!_arrays.TryGetValue(name, out var a))
        {
            throw new InvalidModelException($"array '{name}' is missing");
        }
        if (!a.Shape.SequenceEqual(shape))
        {
            throw new InvalidModelException($"array '{name}' has shape [{string.Join(',', a.Shape)}], expected [{string.Join(',', shape)}]");
        }
        foreach (var v in a.Data)
        {
            if (!float.IsFinite(v))
            {
                throw new InvalidModelException($"array '{name}' holds a non-finite value");
            }
        }
        return a.Data;
    }
}

/// <summary>Typed access to header fields with errors that name the field.</summary>
public static class ModelHeader
{
    public static JsonNode Require(JsonObject o, string name) =>
        o[name] ?? throw new InvalidModelException($"header field '{name}' is missing");

    public static string String(JsonObject o, string name) =>
        Require(o, name) is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new InvalidModelException($"header field '{name}' is not a string");

    public static long Long(JsonObject o, string name) =>
        Require(o, name) is JsonValue v && v.TryGetValue<long>(out var l) ? l : throw new InvalidModelException($"header field '{name}' is not an integer");

    public static int Int(JsonObject o, string name)
    {
        var l = Long(o, name);
        return l is >= int.MinValue and <= int.MaxValue ? (int)l : throw new InvalidModelException($"header field '{name}' is out of range");
    }

    public static double Double(JsonObject o, string name) =>
        Require(o, name) is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d) ? d : throw new InvalidModelException($"header field '{name}' is not a number");

    public static bool Bool(JsonObject o, string name) =>
        Require(o, name) is JsonValue v && v.TryGetValue<bool>(out var b) ? b : throw new InvalidModelException($"header field '{name}' is not a boolean");

    public static JsonObject Object(JsonObject o, string name) =>
        Require(o, name) as JsonObject ?? throw new InvalidModelException($"header field '{name}' is not an object");

    public static string[] Strings(JsonObject o, string name) =>
        (Require(o, name) as JsonArray ?? throw new InvalidModelException($"header field '{name}' is not an array"))
        .Select(n => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new InvalidModelException($"header field '{name}' holds a non-string"))
        .ToArray();

    public static double[] Doubles(JsonObject o, string name) =>
        (Require(o, name) as JsonArray ?? throw new InvalidModelException($"header field '{name}' is not an array"))
        .Select(n => n is JsonValue v && v.TryGetValue<double>(out var d) && double.IsFinite(d) ? d : throw new InvalidModelException($"header field '{name}' holds a non-number"))
        .ToArray();
}
