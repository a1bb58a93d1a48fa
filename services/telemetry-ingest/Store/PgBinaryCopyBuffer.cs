using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace RouteIQ.TelemetryIngest.Store;

/// <summary>
/// Encodes rows in PostgreSQL's binary <c>COPY</c> format (signature, flags, header extension;
/// per tuple an int16 field count and, per field, an int32 length — −1 for NULL — and the
/// value in network byte order; int16 −1 as trailer) into a pooled buffer that the caller
/// flushes to a raw COPY stream. One pass per value with no per-value objects: Npgsql's
/// importer resolves and binds a parameter for every value, which cost ~13 µs of CPU per
/// 38-column decision row.
/// </summary>
public sealed class PgBinaryCopyBuffer : IDisposable
{
    // "PGCOPY\n\377\r\n\0"
    private static ReadOnlySpan<byte> Signature => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', 0x0A, 0xFF, 0x0D, 0x0A, 0x00];

    private byte[] _buffer;
    private int _position;

    public PgBinaryCopyBuffer(int initialCapacity = 64 * 1024) => _buffer = ArrayPool<byte>.Shared.Rent(initialCapacity);

    /// <summary>Bytes encoded and not yet taken by <see cref="FlushToAsync"/>.</summary>
    public int Length => _position;

    public void WriteHeader()
    {
        var span = Reserve(Signature.Length + 8);
        Signature.CopyTo(span);
        BinaryPrimitives.WriteInt32BigEndian(span[Signature.Length..], 0); // flags: no OIDs
        BinaryPrimitives.WriteInt32BigEndian(span[(Signature.Length + 4)..], 0); // no header extension
        _position += Signature.Length + 8;
    }

    public void WriteTrailer() => WriteInt16(-1);

    public void StartRow(short fields) => WriteInt16(fields);

    public void WriteNull()
    {
        BinaryPrimitives.WriteInt32BigEndian(Reserve(4), -1);
        _position += 4;
    }

    /// <summary>text (and json, whose binary form is its text): UTF-8, NUL characters removed for text.</summary>
    public void WriteText(string? value, bool stripNul = true)
    {
        if (value is null)
        {
            WriteNull();
            return;
        }
        if (stripNul && value.Contains('\0'))
        {
            value = value.Replace("\0", "");
        }
        var span = Reserve(4 + Encoding.UTF8.GetMaxByteCount(value.Length));
        var length = Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32BigEndian(span, length);
        _position += 4 + length;
    }

    public void WriteInt64(long? value)
    {
        if (value is { } v)
        {
            BinaryPrimitives.WriteInt64BigEndian(FixedValue(8), v);
        }
        else
        {
            WriteNull();
        }
    }

    public void WriteInt32(int? value)
    {
        if (value is { } v)
        {
            BinaryPrimitives.WriteInt32BigEndian(FixedValue(4), v);
        }
        else
        {
            WriteNull();
        }
    }

    public void WriteDouble(double? value)
    {
        if (value is { } v)
        {
            BinaryPrimitives.WriteDoubleBigEndian(FixedValue(8), v);
        }
        else
        {
            WriteNull();
        }
    }

    public void WriteBoolean(bool value) => FixedValue(1)[0] = value ? (byte)1 : (byte)0;

    /// <summary>Writes the length of a fixed-size value and returns the bytes its value goes into.</summary>
    private Span<byte> FixedValue(int size)
    {
        var span = Reserve(4 + size);
        BinaryPrimitives.WriteInt32BigEndian(span, size);
        _position += 4 + size;
        return span.Slice(4, size);
    }

    /// <summary>Writes what is buffered to <paramref name="stream"/> and starts over.</summary>
    public async ValueTask FlushToAsync(Stream stream, CancellationToken cancellationToken)
    {
        if (_position > 0)
        {
            await stream.WriteAsync(_buffer.AsMemory(0, _position), cancellationToken);
            _position = 0;
        }
    }

    public void Dispose()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    private void WriteInt16(short value)
    {
        BinaryPrimitives.WriteInt16BigEndian(Reserve(2), value);
        _position += 2;
    }

    private Span<byte> Reserve(int bytes)
    {
        if (_buffer.Length - _position < bytes)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _position + bytes));
            _buffer.AsSpan(0, _position).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
        return _buffer.AsSpan(_position);
    }
}
