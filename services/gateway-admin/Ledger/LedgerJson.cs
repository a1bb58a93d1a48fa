using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>The wire and storage JSON: snake_case for API documents, the contracts' own names for outbox messages.</summary>
public static class LedgerJson
{
    public static readonly JsonSerializerOptions Api = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static readonly JsonSerializerOptions Messages = new(JsonSerializerDefaults.General);

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Api);

    public static JsonObject? Parse(string? json) => json is null ? null : JsonNode.Parse(json) as JsonObject;

    public static JsonObject ToObject<T>(T value) => (JsonObject)JsonSerializer.SerializeToNode(value, Api)!;
}
