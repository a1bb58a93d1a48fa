using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RouteIQ.Artifacts;
using RouteIQ.GatewayAdmin.Specs;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>A roll or rollback request, validated.</summary>
public sealed record RollBody
{
    public string? Name { get; init; }
    public string? Ref { get; init; }
    public string? ServeImage { get; init; }
    public required int WaitReadySeconds { get; init; }
    public string? Alias { get; init; }
    public Contracts.Promotion? Promotion { get; init; }
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

    public static async Task<(JsonElement? Body, ApiProblem? Problem)> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
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
        // JsonDocument does not check the UTF-8 of strings until they are read (then it throws
        // InvalidOperationException: a 500 with no body). Checked once, up front.
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return (null, ApiProblems.Field("body", "request body is not valid UTF-8"));
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

    private static ApiProblem TooLarge() => ApiProblems.Create(413, "request body too large", [new("limit_bytes", Extensions.MaxRequestBodyBytes)]);

    public static (TrainBody? Body, ApiProblem? Problem) ParseTrain(JsonElement? json)
    {
        if (json is not { } body)
        {
            return (new TrainBody(), null);
        }
        int? wait = null;
        string? imageKey = null;
        string? dataset = null;
        Contracts.Promotion? promotion = null;
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
                case "dataset":
                    if (property.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                    {
                        return (null, ApiProblems.Field("dataset", "dataset must be a dataset id or URI string"));
                    }
                    dataset = property.Value.GetString();
                    if (DatasetProblem(dataset) is { } datasetProblem)
                    {
                        return (null, ApiProblems.Field("dataset", datasetProblem));
                    }
                    break;
                case "promotion":
                    var (trainPromotion, trainProblem) = RolloutsPromotion.Parse(property.Value);
                    if (trainProblem is { } tp)
                    {
                        return (null, ApiProblems.Field(tp.Field, $"{tp.Field}: {tp.Problem}"));
                    }
                    promotion = trainPromotion;
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
        return (new TrainBody { WaitSeconds = wait, ImageKey = imageKey, Parameters = parameters, Dataset = dataset, Promotion = promotion }, null);
    }

    public static (RollBody? Body, ApiProblem? Problem) ParseRoll(JsonElement? json, bool rollback, int? defaultWaitReadySeconds = null)
    {
        var result = new RollBody { WaitReadySeconds = defaultWaitReadySeconds ?? new Ledger.AdminOptions().DefaultWaitReadySeconds };
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
                        if (text is not null && text.Any(char.IsControl))
                        {
                            // Trimming would hide it; a newline or NUL in a name is never meant.
                            return (null, ApiProblems.Field(property.Name, $"{property.Name} must not contain control characters"));
                        }
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
                    case "promotion" when !rollback:
                        var (rollPromotion, rollProblem) = RolloutsPromotion.Parse(value);
                        if (rollProblem is { } rp)
                        {
                            return (null, ApiProblems.Field(rp.Field, $"{rp.Field}: {rp.Problem}"));
                        }
                        result = result with { Promotion = rollPromotion };
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
        foreach (var (field, value) in new[] { ("name", result.Name), ("alias", result.Alias), ("ref", result.Ref is ['@', .. var alias] ? alias : null) })
        {
            if (value is not null && Identifiers.Problem(value, field) is { } idProblem)
            {
                return (null, ApiProblems.Field(field, idProblem));
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

    /// <summary>
    /// A dataset is a dataset id (the shared identifier rules: it becomes <c>datasets/{id}/</c> in the
    /// artifact store), an absolute URI, or an absolute local path without <c>.</c>/<c>..</c> segments.
    /// </summary>
    public static string? DatasetProblem(string? dataset)
    {
        if (string.IsNullOrWhiteSpace(dataset))
        {
            return null;
        }
        if (dataset.Any(char.IsControl))
        {
            return "dataset must not contain control characters";
        }
        var value = dataset.Trim();
        if (value.Contains("://", StringComparison.Ordinal))
        {
            // Dot segments are checked in the text as sent (Uri would quietly resolve them), escaped or not.
            return Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "s3" or "file" or "http" or "https"
                && !value[(value.IndexOf("://", StringComparison.Ordinal) + 3)..].Split('/').Any(s => Uri.UnescapeDataString(s) is "." or "..")
                ? null
                : "dataset must be a dataset id or an absolute s3://, file:// or http(s):// URI";
        }
        if (value.StartsWith('/'))
        {
            return value.Split('/').Any(s => Uri.UnescapeDataString(s) is "." or "..") ? "dataset path must not contain '.' or '..' segments" : null;
        }
        return Identifiers.Problem(value, "dataset");
    }

    /// <summary><c>"@alias"</c>, an integer version (JSON number or numeric string) → its text; anything else → null.</summary>
    public static string? NormalizeRef(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Number when value.TryGetInt32(out var n) && n >= 1:
                return n.ToString(CultureInfo.InvariantCulture);
            case JsonValueKind.String when value.GetString()!.Any(char.IsControl):
                return null;
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
        SecretRedaction.RedactNamedValues(copy["parameters"] as JsonObject);
        SecretRedaction.RedactStrings(copy);
        return copy;
    }
}
