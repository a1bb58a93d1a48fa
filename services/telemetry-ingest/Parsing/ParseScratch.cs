using System.Buffers;
using System.Text.Json;

namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>
/// Per-thread buffers one parse reuses: filtered copies of free-form objects and the
/// attributes document built from them. A parse never spans threads (it is synchronous).
/// </summary>
internal sealed class ParseScratch
{
    private const int KeepCapacity = 256 * 1024;
    [ThreadStatic] private static ParseScratch? t_current;

    public readonly ArrayBufferWriter<byte> Copies = new(1024);
    public readonly ArrayBufferWriter<byte> Output = new(2048);
    private Utf8JsonWriter? _copyWriter;
    private Utf8JsonWriter? _outputWriter;

    public static ParseScratch Current => t_current ??= new ParseScratch();

    public void Begin() => Copies.ResetWrittenCount();

    /// <summary>Drops the buffers after an unusually large event rather than keeping them per thread.</summary>
    public static void End()
    {
        if (t_current is { } s && (s.Copies.Capacity > KeepCapacity || s.Output.Capacity > KeepCapacity))
        {
            t_current = null;
        }
    }

    public Utf8JsonWriter CopyWriter()
    {
        if (_copyWriter is null)
        {
            _copyWriter = new Utf8JsonWriter(Copies);
        }
        else
        {
            _copyWriter.Reset(Copies);
        }
        return _copyWriter;
    }

    public Utf8JsonWriter OutputWriter()
    {
        Output.ResetWrittenCount();
        if (_outputWriter is null)
        {
            _outputWriter = new Utf8JsonWriter(Output);
        }
        else
        {
            _outputWriter.Reset(Output);
        }
        return _outputWriter;
    }
}
