using System.Text.Json.Nodes;
using RouteIQ.GatewayAdmin.Ledger;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>
/// RFC 7807 problem+json that also carries the fields existing clients read (<c>error</c>,
/// <c>trainer</c>, <c>available_keys</c>, …) at the top level.
/// </summary>
public static class ApiProblems
{
    public const string ContentType = "application/problem+json";

    public static IResult Create(int status, string error, IEnumerable<KeyValuePair<string, object?>>? fields = null, string? detail = null)
    {
        var body = new JsonObject();
        if (fields is not null)
        {
            foreach (var (key, value) in fields)
            {
                body[key] = value is JsonNode node ? node.DeepClone() : System.Text.Json.JsonSerializer.SerializeToNode(value, LedgerJson.Api);
            }
        }
        return FromBody(status, error, body, detail);
    }

    /// <summary>A stored error document (it has <c>error</c>) as problem+json.</summary>
    public static IResult FromBody(int status, string error, JsonObject body, string? detail = null)
    {
        var problem = new JsonObject
        {
            ["type"] = $"https://httpstatuses.io/{status}",
            ["title"] = error,
            ["status"] = status,
        };
        if (detail is not null)
        {
            problem["detail"] = detail;
        }
        problem["error"] = error;
        foreach (var (key, value) in body)
        {
            if (key is not ("type" or "title" or "status" or "error"))
            {
                problem[key] = value?.DeepClone();
            }
        }
        return Results.Json(problem, statusCode: status, contentType: ContentType);
    }

    public static IResult Field(string field, string error) => Create(400, error, [new("field", field)]);
}
