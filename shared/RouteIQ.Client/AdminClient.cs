using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RouteIQ.Client;

/// <summary>
/// Thin client of the admin and ingest APIs (the CLI's, the dashboard's): request records go out as
/// <see cref="ApiJson"/>, answers come back as the JSON the server sent, readable as the response records.
/// </summary>
public sealed class AdminClient(HttpClient http) : IDisposable
{
    /// <summary>A client of the server at <paramref name="server"/> (an absolute http(s) URL).</summary>
    public static AdminClient Create(string server, string? apiKey, TimeSpan? timeout = null)
        => Create(new Uri(server.TrimEnd('/') + "/", UriKind.Absolute), apiKey, timeout);

    public static AdminClient Create(Uri server, string? apiKey, TimeSpan? timeout = null)
    {
        var http = new HttpClient { BaseAddress = server, Timeout = timeout ?? TimeSpan.FromHours(25) };
        if (!string.IsNullOrEmpty(apiKey))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return new AdminClient(http) { HasKey = !string.IsNullOrEmpty(apiKey) };
    }

    /// <summary>Whether a key was sent: a 401 then means the key was refused, not missing.</summary>
    public bool HasKey { get; init; }

    public HttpClient Http => http;

    /// <summary>Sends <paramref name="body"/> (a request record, or JSON as is) and reads the answer, whatever its status.</summary>
    public async Task<ApiResponse> SendAsync(HttpMethod method, string path, object? body = null,
        IReadOnlyDictionary<string, string>? headers = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null)
        {
            var payload = body is JsonNode node ? node.ToJsonString() : JsonSerializer.Serialize(body, body.GetType(), ApiJson.Options);
            request.Content = new StringContent(payload, Encoding.UTF8, "application/json");
        }
        foreach (var (key, value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(key, value);
        }
        using var response = await http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        JsonNode? json = null;
        if (text.Length > 0)
        {
            try
            {
                json = JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                json = JsonValue.Create(text);
            }
        }
        return new ApiResponse(response.StatusCode, json, response.Headers.Location?.ToString(), text) { Path = path, KeySent = HasKey };
    }

    public void Dispose() => http.Dispose();
}

public sealed record ApiResponse(HttpStatusCode Status, JsonNode? Body, string? Location, string Text)
{
    public bool Ok => (int)Status is >= 200 and < 300;

    /// <summary>The body as one of the response records (<see cref="JobDocument"/>, <see cref="JobSummary"/>, …); null when there is none.</summary>
    public T? As<T>() where T : class => Body is JsonObject o ? o.Deserialize<T>(ApiJson.Options) : null;

    public string? Path { get; init; }

    public bool KeySent { get; init; }

    /// <summary>The best one-line description of an error answer.</summary>
    public string ErrorMessage()
    {
        if ((int)Status is 401 or 403)
        {
            return KeySent
                ? "the API key was refused (check --api-key / ROUTEIQ_API_KEY against the server's RouteIQ:Admin:ApiKeys)"
                : "an API key is required: pass --api-key or set ROUTEIQ_API_KEY";
        }
        if (Status == HttpStatusCode.NotFound && Body is not JsonObject)
        {
            return $"not found: /{Path?.TrimStart('/')}";
        }
        if (Body is JsonObject o)
        {
            var parts = new[] { "error", "detail", "title" }
                .Select(k => o[k]?.GetValueKind() == JsonValueKind.String ? o[k]!.GetValue<string>() : null)
                .Where(s => !string.IsNullOrEmpty(s))
                .Distinct()
                .ToList();
            if (parts.Count > 0)
            {
                return string.Join(": ", parts);
            }
        }
        return $"HTTP {(int)Status}: {Text}";
    }
}
