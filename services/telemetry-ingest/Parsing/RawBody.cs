using System.Text;
using System.Text.Unicode;

namespace RouteIQ.TelemetryIngest.Parsing;

/// <summary>
/// The raw bytes of a rejected event as the text column keeps them: UTF-8 text as it is, and
/// anything that is not valid UTF-8 as <c>base64:</c> + its bytes, so the exact bytes that were
/// rejected can be recovered (replacement characters would lose them).
/// </summary>
public static class RawBody
{
    public const string Base64Prefix = "base64:";

    /// <summary>Kept per rejected event at most (the stored column cuts text at 64 KiB as well).</summary>
    public const int MaxBytes = 48 * 1024;

    public static string From(ReadOnlySpan<byte> bytes)
    {
        var head = bytes.Length > MaxBytes ? bytes[..MaxBytes] : bytes;
        // A cut may split the last character: up to 3 bytes of it are dropped, not the whole text encoded.
        for (var cut = 0; cut <= (head.Length < bytes.Length ? 3 : 0) && cut <= head.Length; cut++)
        {
            if (Utf8.IsValid(head[..^cut]))
            {
                return Encoding.UTF8.GetString(head[..^cut]) + (head.Length < bytes.Length ? "…[truncated]" : "");
            }
        }
        return Base64Prefix + Convert.ToBase64String(head);
    }
}
