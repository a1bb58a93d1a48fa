using System.Text.Json;
using System.Text.Json.Serialization;

namespace RouteIQ.Client;

/// <summary>The admin and ingest APIs' JSON: snake_case property names, map keys as sent, nulls written.</summary>
public static class ApiJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    /// <summary>Applies the wire conventions to <paramref name="options"/> (the server's HTTP JSON options, a client's).</summary>
    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        return options;
    }
}
