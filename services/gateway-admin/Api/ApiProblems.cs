using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Metadata;
using RouteIQ.GatewayAdmin.Ledger;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>
/// RFC 7807 problem+json that also carries the fields existing clients read (<c>error</c>,
/// <c>trainer</c>, <c>available_keys</c>, …) at the top level.
/// </summary>
public static class ApiProblems
{
    public const string ContentType = "application/problem+json";

    public static ApiProblem Create(int status, string error, IEnumerable<KeyValuePair<string, object?>>? fields = null, string? detail = null)
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
    public static ApiProblem FromBody(int status, string error, JsonObject body, string? detail = null)
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
        return new ApiProblem(status, problem);
    }

    public static ApiProblem Field(string field, string error) => Create(400, error, [new("field", field)]);
}

/// <summary>
/// An error answer of the admin API, declared in the OpenAPI document (<see cref="ApiProblemDocument"/>)
/// for the status codes an operation can return (<see cref="ApiProblemStatusesAttribute"/>, default 400).
/// </summary>
public sealed class ApiProblem(int status, JsonObject body)
    : IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<JsonObject>, IContentTypeHttpResult, IEndpointMetadataProvider
{
    public int StatusCode => status;

    int? IStatusCodeHttpResult.StatusCode => status;

    public JsonObject Value => body;

    object? IValueHttpResult.Value => body;

    public string ContentType => ApiProblems.ContentType;

    public Task ExecuteAsync(HttpContext httpContext)
        => Results.Json(body, statusCode: status, contentType: ApiProblems.ContentType).ExecuteAsync(httpContext);

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder)
    {
        var statuses = method.GetCustomAttribute<ApiProblemStatusesAttribute>()?.Statuses ?? [400];
        foreach (var code in statuses)
        {
            builder.Metadata.Add(new ProducesResponseTypeMetadata(code, typeof(ApiProblemDocument), [ApiProblems.ContentType]));
        }
    }
}

/// <summary>The error statuses an endpoint handler returns as <see cref="ApiProblem"/> (for the OpenAPI document).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class ApiProblemStatusesAttribute(params int[] statuses) : Attribute
{
    public int[] Statuses { get; } = statuses;
}
