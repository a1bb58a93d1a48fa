using System.Text;

namespace RouteIQ.Workloads;

/// <summary>
/// A workload's combined stdout/stderr, bounded: when it grows past its limit the oldest
/// output is dropped (a trainer can log for hours; the tail is what explains a failure).
/// </summary>
public sealed class WorkloadLog(int maxChars)
{
    private const string TruncatedMarker = "[... earlier output dropped ...]\n";
    private readonly StringBuilder _text = new();
    private readonly Lock _gate = new();
    private bool _truncated;

    public void Append(string text)
    {
        lock (_gate)
        {
            _text.Append(text);
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

    public string Full()
    {
        lock (_gate)
        {
            return _truncated ? TruncatedMarker + _text : _text.ToString();
        }
    }
}
