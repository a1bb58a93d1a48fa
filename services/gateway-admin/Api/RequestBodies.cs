using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RouteIQ.GatewayAdmin.Specs;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>A roll or rollback request, validated.</summary>
public sealed record RollBody
{
    public string? Name { get; init; }
    public string? Ref { get; init; }
    public string? ServeImage { get; init; }
    public int WaitReadySeconds { get; init; } = 90;
    public string? Alias { get; init; }
}

/// <summary>
/// Reads request bodies by hand, so that malformed JSON and wrong types get a 400 naming the
/// field (and its line), and an over-large body a 413, all as problem+json.
/// </summary>
public static class RequestBodies
{
    public const int MaxWaitReadySeconds = 900;

    /// <summary>
    /// How much of an over-large body is read and discarded before answering 413, so that the
    /// client, still sending, gets the answer instead of a reset connection.
    /// </summary>
    private const long DrainLimit = 16L * 1024 * 1024;

    public static async Task<(JsonElement? Body, IResult? Problem)> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > DrainLimit)
        {
            return (null, TooLarge());
        }
        // Kestrel's 1 MiB limit would abort the read mid-body; we enforce 1 MiB ourselves and drain the rest.
        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = DrainLimit;
        }
        byte[] bytes;
        try
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
            {
                if (buffer.Length + read > Extensions.MaxRequestBodyBytes)
                {
                    while (await request.Body.ReadAsync(chunk, cancellationToken) > 0)
                    {
                    }
                    return (null, TooLarge());
                }
                buffer.Write(chunk, 0, read);
            }
            bytes = buffer.ToArray();
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }
        if (bytes.AsSpan().Trim((byte)' ').Length == 0)
        {
            return (null, null);
        }
        try
        {
            using var document = JsonDocument.Parse(bytes);
            if (document.RootElement.ValueKind == JsonValueKind.Null)
            {
                return (null, null);
            }
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (null, ApiProblems.Field("body", "request body must be a JSON object"));
            }
            return (document.RootElement.Clone(), null);
        }
        catch (JsonException ex)
        {
            return (null, ApiProblems.Create(400, "malformed JSON body", [new("field", "body"), new("line", (ex.LineNumber ?? 0) + 1), new("column", (ex.BytePositionInLine ?? 0) + 1)],
                ex.Message.Split(" LineNumber:")[0].Trim()));
        }
    }

    private static IResult TooLarge() => ApiProblems.Create(413, "request body too large", [new("limit_bytes", Extensions.MaxRequestBodyBytes)]);

    public static (TrainBody? Body, IResult? Problem) ParseTrain(JsonElement? json)
    {
        if (json is not { } body)
        {
            return (new TrainBody(), null);
        }
        int? wait = null;
        string? imageKey = null;
        var parameters = new List<KeyValuePair<string, JsonElement>>();
        foreach (var property in body.EnumerateObject())
        {
            switch (property.Name)
            {
                case "wait_seconds":
                    if (property.Value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }
                    if (!TryInteger(property.Value, out var w))
                    {
                        return (null, ApiProblems.Field("wait_seconds", "wait_seconds must be an integer"));
                    }
                    wait = w;
                    break;
                case "image_key":
                    if (property.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                    {
                        return (null, ApiProblems.Field("image_key", "image_key must be a string"));
                    }
                    imageKey = property.Value.GetString();
                    break;
                case "parameters":
                    if (property.Value.ValueKind == JsonValueKind.Null)
                    {
                        break;
                    }
                    if (property.Value.ValueKind != JsonValueKind.Object)
                    {
                        return (null, ApiProblems.Field("parameters", "parameters must be an object of name → value"));
                    }
                    parameters.AddRange(property.Value.EnumerateObject().Select(p => new KeyValuePair<string, JsonElement>(p.Name, p.Value.Clone())));
                    break;
            }
        }
        return (new TrainBody { WaitSeconds = wait, ImageKey = imageKey, Parameters = parameters }, null);
    }

    public static (RollBody? Body, IResult? Problem) ParseRoll(JsonElement? json, bool rollback)
    {
        var result = new RollBody();
        if (json is { } body)
        {
            foreach (var property in body.EnumerateObject())
            {
                var value = property.Value;
                switch (property.Name)
                {
                    case "name" or "serve_image" or "alias":
                        if (value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                        {
                            return (null, ApiProblems.Field(property.Name, $"{property.Name} must be a string"));
                        }
                        var text = value.GetString();
                        text = string.IsNullOrWhiteSpace(text) ? null : text.Trim();
                        result = property.Name switch
                        {
                            "name" => result with { Name = text },
                            "serve_image" => result with { ServeImage = text },
                            _ => result with { Alias = text },
                        };
                        break;
                    case "ref" when !rollback:
                        if (NormalizeRef(value) is not { } reference)
                        {
                            return (null, ApiProblems.Field("ref", "ref must be '@alias' or integer version"));
                        }
                        result = result with { Ref = reference };
                        break;
                    case "wait_ready_seconds":
                        if (value.ValueKind == JsonValueKind.Null)
                        {
                            break;
                        }
                        if (!TryInteger(value, out var wait))
                        {
                            return (null, ApiProblems.Field("wait_ready_seconds", "wait_ready_seconds must be an integer"));
                        }
                        if (wait is < 1 or > MaxWaitReadySeconds)
                        {
                            return (null, ApiProblems.Field("wait_ready_seconds", $"wait_ready_seconds must be between 1 and {MaxWaitReadySeconds}"));
                        }
                        result = result with { WaitReadySeconds = wait };
                        break;
                }
            }
        }
        if (!rollback)
        {
            if (result.Name is null)
            {
                return (null, ApiProblems.Field("name", "name is required (the registered model name)"));
            }
            if (result.Ref is null)
            {
                return (null, ApiProblems.Field("ref", "ref must be '@alias' or integer version"));
            }
        }
        return (result, null);
    }

    /// <summary><c>"@alias"</c>, an integer version (JSON number or numeric string) → its text; anything else → null.</summary>
    public static string? NormalizeRef(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Number when value.TryGetInt32(out var n) && n >= 1:
                return n.ToString(CultureInfo.InvariantCulture);
            case JsonValueKind.String:
                var text = value.GetString()!.Trim();
                if (text.Length > 1 && text[0] == '@' && text[1..].All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
                {
                    return text;
                }
                return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= 1
                    ? v.ToString(CultureInfo.InvariantCulture) : null;
            default:
                return null;
        }
    }

    private static bool TryInteger(JsonElement value, out int result)
    {
        result = 0;
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out result);
    }

    /// <summary>The request as stored in the ledger: parameters with secret-looking names redacted.</summary>
    public static JsonObject Redacted(JsonElement? body)
    {
        var copy = body is { } b ? JsonNode.Parse(b.GetRawText()) as JsonObject ?? [] : [];
        if (copy["parameters"] is JsonObject parameters)
        {
            foreach (var key in parameters.Select(p => p.Key).ToList())
            {
                if (EnvironmentNames.LooksSecret(key) && parameters[key] is not null)
                {
                    parameters[key] = EnvironmentNames.Redacted;
                }
            }
        }
        return copy;
    }
}
