using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Routing.Patterns;

namespace RouteIQ.GatewayAdmin.Ui;

/// <summary>An admin API answer: status code and JSON body (null when the route is not served by this process).</summary>
public sealed record ApiAnswer(int Status, JsonNode? Body)
{
    public bool Ok => Status is >= 200 and < 300;

    /// <summary>The problem's <c>error</c>, <c>detail</c> or <c>title</c>, for a one-line message.</summary>
    public string Message => Body?["error"]?.ToString() ?? Body?["detail"]?.ToString() ?? Body?["title"]?.ToString() ?? $"status {Status}";
}

/// <summary>
/// Calls this process's own admin endpoints without a network hop: the endpoint is found by its
/// route pattern and method, and its request delegate runs on a request built here. The dashboard
/// then shows exactly what the API answers (validation, redaction, problems), and an endpoint
/// another service owns (telemetry, rollouts, runner status) is used when this host serves it
/// (embedded mode) and reported as unavailable otherwise. Authorization happened at <c>/ui</c>.
/// </summary>
public sealed class InProcessApi(EndpointDataSource endpoints, IServiceScopeFactory scopes)
{
    public const int NotServed = 0;

    private RouteEndpoint? Find(string method, string pattern)
        => endpoints.Endpoints.OfType<RouteEndpoint>().FirstOrDefault(e =>
            string.Equals(Normalize(e.RoutePattern), pattern, StringComparison.OrdinalIgnoreCase)
            && (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods.Contains(method, StringComparer.OrdinalIgnoreCase) ?? false));

    /// <summary>The pattern with route constraints removed (<c>/admin/jobs/{id:guid}</c> → <c>/admin/jobs/{id}</c>).</summary>
    private static string Normalize(RoutePattern pattern)
        => "/" + string.Join('/', pattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
        {
            RoutePatternLiteralPart literal => literal.Content,
            RoutePatternParameterPart parameter => "{" + parameter.Name + "}",
            RoutePatternSeparatorPart separator => separator.Content,
            _ => "",
        }))));

    public bool Serves(string method, string pattern) => Find(method, pattern) is not null;

    public async Task<ApiAnswer> SendAsync(string method, string pattern, IReadOnlyDictionary<string, string>? route = null,
        string? query = null, JsonNode? body = null, CancellationToken cancellationToken = default)
    {
        if (Find(method, pattern) is not { RequestDelegate: { } handler })
        {
            return new ApiAnswer(NotServed, null);
        }
        await using var scope = scopes.CreateAsyncScope();
        var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
        context.Request.Method = method;
        var path = pattern;
        foreach (var (name, value) in route ?? new Dictionary<string, string>())
        {
            context.Request.RouteValues[name] = value;
            path = path.Replace("{" + name + "}", Uri.EscapeDataString(value), StringComparison.Ordinal);
        }
        context.Request.Path = path;
        context.Request.QueryString = string.IsNullOrEmpty(query) ? QueryString.Empty : new QueryString("?" + query);
        context.Request.Query = new QueryCollection(Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(query));
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("127.0.0.1");
        if (body is not null)
        {
            var bytes = Encoding.UTF8.GetBytes(body.ToJsonString());
            context.Request.Body = new MemoryStream(bytes);
            context.Request.ContentType = "application/json";
            context.Request.ContentLength = bytes.Length;
        }
        using var response = new MemoryStream();
        context.Response.Body = response;
        context.RequestAborted = cancellationToken;
        await handler(context);
        var text = Encoding.UTF8.GetString(response.ToArray());
        JsonNode? json = null;
        if (text.Length > 0 && (context.Response.ContentType?.Contains("json", StringComparison.OrdinalIgnoreCase) ?? text[0] is '{' or '['))
        {
            try
            {
                json = JsonNode.Parse(text);
            }
            catch (System.Text.Json.JsonException)
            {
                json = JsonValue.Create(text);
            }
        }
        else if (text.Length > 0)
        {
            json = JsonValue.Create(text);
        }
        return new ApiAnswer(context.Response.StatusCode, json);
    }

    public Task<ApiAnswer> GetAsync(string pattern, string? query = null, CancellationToken cancellationToken = default)
        => SendAsync("GET", pattern, null, query, null, cancellationToken);
}
