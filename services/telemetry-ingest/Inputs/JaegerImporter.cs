using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Options;
using RouteIQ.Artifacts;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Inputs;

/// <summary>A Jaeger query-service backfill: <c>GET {BaseUrl}/api/traces?service=&amp;start=&amp;end=&amp;limit=</c> (times in epoch microseconds).</summary>
public sealed record JaegerQuery(Uri BaseUrl, string Service, long StartMicros, long EndMicros, int Limit = 1000)
{
    public Uri ToUri()
    {
        var baseText = BaseUrl.ToString().TrimEnd('/');
        return new Uri(FormattableString.Invariant(
            $"{baseText}/api/traces?service={Uri.EscapeDataString(Service)}&start={StartMicros}&end={EndMicros}&limit={Limit}"));
    }
}

/// <summary>
/// Backfill from a Jaeger query service (used by <c>routeiq ingest jaeger</c> and
/// <c>POST /admin/telemetry/jaeger</c>). Reads both forms: span logs carrying
/// <c>routeiq.router_decision.payload</c> (the contract event), and legacy spans whose tags
/// carry <c>gen_ai.*</c> (with query text). Spans with neither are not telemetry and are skipped.
/// </summary>
public sealed class JaegerImporter(HttpClient http, IngestService ingest, IOptions<TelemetryIngestOptions> options)
{
    /// <summary>Whether <paramref name="url"/>'s host is one a backfill may call (<c>RouteIQ:Telemetry:JaegerHosts</c>; loopback when empty).</summary>
    public bool IsAllowed(Uri url)
    {
        var hosts = options.Value.JaegerHosts.Where(h => !string.IsNullOrWhiteSpace(h)).Select(h => h.Trim()).ToList();
        if (hosts.Count == 0)
        {
            return url.IsLoopback;
        }
        var host = url.IdnHost.Trim('[', ']');
        return hosts.Any(h => string.Equals(h.Trim('[', ']'), host, StringComparison.OrdinalIgnoreCase)
            || string.Equals(h, $"{url.Host}:{url.Port}", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Queries Jaeger and imports the answer, read as it streams in up to
    /// <c>RouteIQ:Telemetry:JaegerMaxResponseBytes</c>. Failures say only what status came back (or
    /// that none did): never addresses, ports or socket errors, which would make this a port scanner.
    /// </summary>
    public async Task<IngestReport> ImportAsync(JaegerQuery query, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        if (!IsAllowed(query.BaseUrl))
        {
            throw new JaegerHostNotAllowedException();
        }
        var max = options.Value.JaegerMaxResponseBytes;
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(query.ToUri(), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new JaegerImportException("the Jaeger query service could not be reached");
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new JaegerImportException($"Jaeger answered HTTP {(int)response.StatusCode}");
            }
            if (response.Content.Headers.ContentLength > max)
            {
                throw new JaegerImportException($"Jaeger answered HTTP {(int)response.StatusCode} with a body over {max} bytes");
            }
            try
            {
                await using var stream = new CappedStream(await response.Content.ReadAsStreamAsync(cancellationToken), max);
                return await ImportResponseAsync(stream, progress, cancellationToken);
            }
            catch (CappedStream.OverLimitException)
            {
                throw new JaegerImportException($"Jaeger answered HTTP {(int)response.StatusCode} with a body over {max} bytes");
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
            {
                throw new JaegerImportException($"Jaeger answered HTTP {(int)response.StatusCode} but the body could not be read");
            }
        }
    }

    /// <summary>Imports a saved <c>/api/traces</c> response body; <paramref name="progress"/> counts spans read.</summary>
    public async Task<IngestReport> ImportResponseAsync(Stream jaegerJson, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(jaegerJson, cancellationToken: cancellationToken);
        }
        catch (JsonException ex)
        {
            throw new JaegerImportException($"the Jaeger response is not JSON (line {ex.LineNumber + 1})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            {
                throw new JaegerImportException("the Jaeger response has no \"data\" array");
            }
            var batch = new IngestBatch(IngestSources.Jaeger);
            var total = default(WriteResult);
            long spans = 0, index = 0;
            foreach (var trace in data.EnumerateArray())
            {
                if (!trace.TryGetProperty("spans", out var traceSpans) || traceSpans.ValueKind != JsonValueKind.Array)
                {
                    continue;
                }
                foreach (var span in traceSpans.EnumerateArray())
                {
                    try
                    {
                        ReadSpan(span, batch, ref index);
                    }
                    catch (InvalidOperationException)
                    {
                        // JsonDocument transcodes strings lazily, so invalid UTF-8 surfaces here: this
                        // span is rejected with its exact bytes, the spans around it go on.
                        batch.Reject("span: a string is not valid UTF-8", index++, RawBody.From(JsonMarshal.GetRawUtf8Value(span)), countAsReceived: true);
                    }
                    spans++;
                    if (batch.Count >= options.Value.BatchSize)
                    {
                        total += await ingest.WriteAsync(batch, cancellationToken);
                        batch.Clear();
                        progress?.Report(spans);
                    }
                }
            }
            total += await ingest.WriteAsync(batch, cancellationToken);
            progress?.Report(spans);
            return new IngestReport
            {
                Received = batch.Received,
                Stored = total.Inserted,
                Duplicates = total.Duplicates,
                Rejected = total.Rejected,
                Rejections = batch.Rejections,
            };
        }
    }

    private void ReadSpan(JsonElement span, IngestBatch batch, ref long index)
    {
        var traceId = NormalizeId(Text(span, "traceID"), 32);
        var spanId = NormalizeId(Text(span, "spanID"), 16);
        var foundEvent = false;
        if (span.TryGetProperty("logs", out var logs) && logs.ValueKind == JsonValueKind.Array)
        {
            foreach (var log in logs.EnumerateArray())
            {
                if (!log.TryGetProperty("fields", out var fields) || fields.ValueKind != JsonValueKind.Array)
                {
                    continue;
                }
                var isDecisionEvent = false;
                JsonElement? payload = null;
                foreach (var field in fields.EnumerateArray())
                {
                    var key = Text(field, "key");
                    if (key == DecisionParser.PayloadAttribute && field.TryGetProperty("value", out var value))
                    {
                        payload = value;
                    }
                    else if (key == "event" && Text(field, "value") == DecisionParser.ContractName)
                    {
                        isDecisionEvent = true;
                    }
                }
                if (payload is null && !isDecisionEvent)
                {
                    continue;
                }
                foundEvent = true;
                var timestampMs = log.TryGetProperty("timestamp", out var ts) && ts.TryGetInt64(out var us) ? us / 1000 : (long?)null;
                var context = new DecisionContext(IngestSources.Jaeger, traceId, spanId, timestampMs);
                if (payload is not { } p)
                {
                    batch.Reject($"span event {DecisionParser.ContractName}: field {DecisionParser.PayloadAttribute} missing",
                        index++, log.GetRawText(), countAsReceived: true);
                    continue;
                }
                var json = p.ValueKind switch
                {
                    JsonValueKind.String => p.GetString()!,
                    JsonValueKind.Object => p.GetRawText(),
                    _ => null,
                };
                if (json is null)
                {
                    batch.Reject($"{DecisionParser.PayloadAttribute}: expected a JSON string or object, got {p.ValueKind}",
                        index++, log.GetRawText(), countAsReceived: true);
                    continue;
                }
                var result = ingest.Parser.Parse(json, context);
                batch.Add(result, index++, () => json);
            }
        }
        if (!foundEvent)
        {
            ReadLegacy(span, traceId, spanId, batch, ref index);
        }
    }

    private void ReadLegacy(JsonElement span, string? traceId, string? spanId, IngestBatch batch, ref long index)
    {
        var tags = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (span.TryGetProperty("tags", out var tagArray) && tagArray.ValueKind == JsonValueKind.Array)
        {
            foreach (var tag in tagArray.EnumerateArray())
            {
                if (Text(tag, "key") is { } key && tag.TryGetProperty("value", out var value))
                {
                    tags[key] = value;
                }
            }
        }
        var prompt = TagText(tags, "gen_ai.prompt");
        if (prompt is null && span.TryGetProperty("logs", out var logs) && logs.ValueKind == JsonValueKind.Array)
        {
            foreach (var log in logs.EnumerateArray())
            {
                if (log.TryGetProperty("fields", out var fields) && fields.ValueKind == JsonValueKind.Array)
                {
                    foreach (var field in fields.EnumerateArray())
                    {
                        if (Text(field, "key") == "gen_ai.prompt" && field.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String)
                        {
                            prompt ??= v.GetString();
                        }
                    }
                }
            }
        }
        var model = TagText(tags, "gen_ai.response.model") ?? TagText(tags, "gen_ai.request.model");
        if (prompt is null && model is null)
        {
            return;
        }
        var record = new LegacyRecord
        {
            Query = prompt,
            Model = model,
            LatencyMs = span.TryGetProperty("duration", out var d) && d.TryGetInt64(out var durationUs) ? durationUs / 1000.0 : null,
            TotalTokens = TagLong(tags, "gen_ai.usage.total_tokens"),
            InputTokens = TagLong(tags, "gen_ai.usage.prompt_tokens") ?? TagLong(tags, "gen_ai.usage.input_tokens"),
            OutputTokens = TagLong(tags, "gen_ai.usage.completion_tokens") ?? TagLong(tags, "gen_ai.usage.output_tokens"),
            TaskName = TagText(tags, "litellm.task"),
            TraceId = traceId,
            SpanId = spanId,
            TimestampMs = span.TryGetProperty("startTime", out var st) && st.TryGetInt64(out var startUs) ? startUs / 1000 : null,
            Failed = (tags.TryGetValue("error", out var error) && (error.ValueKind == JsonValueKind.True || error.ToString() == "true"))
                || TagText(tags, "otel.status_code") == "ERROR",
        };
        var result = ingest.Parser.FromLegacy(record, IngestSources.Jaeger);
        batch.Add(result, index++, () => span.GetRawText());
    }

    private static string? Text(JsonElement element, string name)
        => element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    private static string? TagText(Dictionary<string, JsonElement> tags, string key)
        => tags.TryGetValue(key, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text ? text : null;

    private static long? TagLong(Dictionary<string, JsonElement> tags, string key)
    {
        if (!tags.TryGetValue(key, out var value))
        {
            return null;
        }
        return value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetInt64(out var n) => n,
            JsonValueKind.String when long.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) => n,
            _ => null,
        };
    }

    /// <summary>Jaeger drops leading zeros of 64-bit trace ids; the contract uses 32/16 hex characters.</summary>
    private static string? NormalizeId(string? id, int length)
    {
        if (string.IsNullOrEmpty(id) || id.Length > length || !DecisionParser.IsHex(id, id.Length))
        {
            return null;
        }
        return id.PadLeft(length, '0').ToLowerInvariant();
    }
}

/// <summary>The Jaeger query failed or answered something that is not a Jaeger traces response.</summary>
public sealed class JaegerImportException(string message) : Exception(message);

/// <summary>The URL's host is not in <c>RouteIQ:Telemetry:JaegerHosts</c>.</summary>
public sealed class JaegerHostNotAllowedException()
    : Exception("the host is not an allowed Jaeger query service (RouteIQ:Telemetry:JaegerHosts; loopback only when empty)");

/// <summary>A read-only stream that fails once more than <c>limit</c> bytes have come through it.</summary>
internal sealed class CappedStream(Stream inner, long limit) : ReadThroughStream(inner, ownsInner: true)
{
    public sealed class OverLimitException() : IOException("response over the size limit");

    protected override void Passed(ReadOnlySpan<byte> bytes)
    {
        if (BytesRead > limit)
        {
            throw new OverLimitException();
        }
    }
}
