using System.Text;

namespace RouteIQ.Workloads;

/// <summary>
/// A workload's combined stdout/stderr, bounded: when it grows past its limit the oldest
/// output is dropped (a trainer can log for hours; the tail is what explains a failure).
/// </summary>
public sealed class WorkloadLog(int maxChars)
{
    private const string TruncatedMarker = RouteIQ.Contracts.TrainLogAppended.TruncatedMarker;
    private readonly StringBuilder _text = new();
    private readonly Lock _gate = new();
    private bool _truncated;
    private long _written;

    public void Append(string text)
    {
        lock (_gate)
        {
            _text.Append(text);
            _written += text.Length;
            if (_text.Length > maxChars)
            {
                // Drop a quarter more than needed so trimming stays amortised O(1).
                var drop = Math.Min(_text.Length, _text.Length - maxChars + maxChars / 4);
                _text.Remove(0, drop);
                _truncated = true;
            }
        }
    }

    public void AppendLine(string line) => Append(line + "\n");

    public string Tail(int maxChars)
    {
        lock (_gate)
        {
            var length = Math.Min(maxChars, _text.Length);
            return _text.ToString(_text.Length - length, length);
        }
    }

    /// <summary>
    /// Output from character <paramref name="offset"/> on (counted over everything ever appended), at most
    /// <paramref name="maxChars"/> of it. When the output at the offset was already dropped, the chunk starts at the
    /// oldest output kept (its <see cref="LogChunk.Offset"/> says where).
    /// </summary>
    public LogChunk ReadFrom(long offset, int maxChars)
    {
        lock (_gate)
        {
            var first = _written - _text.Length;
            var start = Math.Clamp(offset, first, _written);
            var length = (int)Math.Min(maxChars, _written - start);
            return new LogChunk(start, _text.ToString((int)(start - first), length));
        }
    }

    public string Full()
    {
        lock (_gate)
        {
            return _truncated ? TruncatedMarker + _text : _text.ToString();
        }
    }
}

/// <summary>Part of a workload's output: <see cref="Text"/> begins at character <see cref="Offset"/> of everything it wrote.</summary>
public readonly record struct LogChunk(long Offset, string Text)
{
    public long Next => Offset + Text.Length;
}
