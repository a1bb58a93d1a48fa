using System.Security.Cryptography;
using System.Text.Json;
using RouteIQ.GatewayAdmin.Ledger;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>
/// <c>Idempotency-Key</c> bound to the request it first came with: method, route (the path, so
/// also the trainer) and body, as a SHA-256 over their canonical form (object members sorted,
/// whitespace dropped). The same request again returns the first job; a different request with
/// the same key is a 422; a key over <see cref="MaxKeyLength"/> characters a 400.
/// </summary>
public static class Idempotency
{
    public const string Header = "Idempotency-Key";
    public const int MaxKeyLength = 200;

    /// <summary>The header's key and the request's fingerprint; (null, null) without the header.</summary>
    public static (IdempotencyRequest? Request, ApiProblem? Problem) Read(HttpRequest request, JsonElement? body)
    {
        var values = request.Headers[Header];
        if (values.Count == 0 || (values.Count == 1 && string.IsNullOrEmpty(values[0])))
        {
            return (null, null);
        }
        if (values.Count > 1)
        {
            return (null, ApiProblems.Field(Header, "send one Idempotency-Key"));
        }
        var key = values[0]!;
        if (key.Length > MaxKeyLength)
        {
            return (null, ApiProblems.Field(Header, $"Idempotency-Key is longer than {MaxKeyLength} characters"));
        }
        if (key.Any(c => c is < '!' or > '~'))
        {
            return (null, ApiProblems.Field(Header, "Idempotency-Key may only contain visible ASCII characters"));
        }
        return (new IdempotencyRequest(key, Fingerprint(request.Method, request.Path.Value ?? "", body)), null);
    }

    public static string Fingerprint(string method, string path, JsonElement? body)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            writer.WriteStringValue(method.ToUpperInvariant());
            writer.WriteStringValue(path);
            if (body is { } b)
            {
                WriteCanonical(writer, b);
            }
            else
            {
                writer.WriteNullValue();
            }
            writer.WriteEndArray();
        }
        return Convert.ToHexStringLower(SHA256.HashData(buffer.ToArray()));
    }

    private static void WriteCanonical(Utf8JsonWriter writer, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in element.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    writer.WritePropertyName(property.Name);
                    WriteCanonical(writer, property.Value);
                }
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteCanonical(writer, item);
                }
                writer.WriteEndArray();
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }
}
