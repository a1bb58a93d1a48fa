using System.Buffers;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Otlp.Proto;
using RouteIQ.TelemetryIngest.Parsing;

namespace RouteIQ.TelemetryIngest.Otlp;

/// <summary>
/// OTLP/HTTP trace receiver (<c>POST /v1/traces</c>): binary protobuf or OTLP/JSON, optionally
/// gzip-compressed. Span events named <c>routeiq.router_decision.v1</c> carry the decision in
/// the attribute <c>routeiq.router_decision.payload</c> (a JSON string, or a key-value map).
/// Other spans are not ours and are ignored. Rejected events make the response a partial
/// success (rejected_spans, error_message) as the OTLP specification describes; an
/// undecodable request is answered 400 and kept in the rejected-events store.
/// </summary>
public sealed class OtlpTraceReceiver(IngestService ingest, CoalescingIngest coalescing, IOptions<TelemetryIngestOptions> options, ILogger<OtlpTraceReceiver> logger)
{
    public const string ProtobufContentType = "application/x-protobuf";
    public const string JsonContentType = "application/json";

    private static readonly JsonParser OtlpJsonParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var mediaType = (request.ContentType ?? "").Split(';')[0].Trim().ToLowerInvariant();
        var isJson = mediaType == JsonContentType;
        if (!isJson && mediaType != ProtobufContentType)
        {
            await WriteStatusAsync(context, StatusCodes.Status415UnsupportedMediaType,
                $"Content-Type must be {ProtobufContentType} or {JsonContentType}", isJson: false);
            return;
        }

        // The body lives in a pooled buffer for the length of the request: an 800 KiB export
        // would otherwise land on the large-object heap twice per request.
        PooledBody body;
        try
        {
            body = await ReadBodyAsync(request, options.Value.MaxDecompressedBytes, context.RequestAborted);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await RejectRequestAsync(context, "request body over the 1 MiB limit", "", StatusCodes.Status413PayloadTooLarge, isJson);
            return;
        }
        catch (InvalidDataException ex)
        {
            await RejectRequestAsync(context, $"invalid gzip body ({ex.Message})", "", StatusCodes.Status400BadRequest, isJson);
            return;
        }
        catch (PayloadTooLargeException)
        {
            await RejectRequestAsync(context, $"decompressed body over {options.Value.MaxDecompressedBytes} bytes", "", StatusCodes.Status413PayloadTooLarge, isJson);
            return;
        }

        ExportTraceServiceRequest export;
        using (body)
        {
            try
            {
                export = isJson
                    ? OtlpJsonParser.Parse<ExportTraceServiceRequest>(Encoding.UTF8.GetString(body.Span))
                    : ExportTraceServiceRequest.Parser.ParseFrom(body.Span);
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
            {
                var raw = isJson ? RawBody.From(body.Span) : RawBody.Base64Prefix + Convert.ToBase64String(body.Span[..Math.Min(body.Length, RawBody.MaxBytes)]);
                await RejectRequestAsync(context, $"undecodable OTLP {(isJson ? "JSON" : "protobuf")} request ({ex.Message.Split('\n')[0]})",
                    raw, StatusCodes.Status400BadRequest, isJson);
                return;
            }
        }

        var (batch, rejectedSpans) = Extract(export, isJson);
        if (batch.Count > 0)
        {
            await coalescing.WriteAsync(batch, context.RequestAborted);
        }

        var response = new ExportTraceServiceResponse();
        if (rejectedSpans > 0)
        {
            response.PartialSuccess = new ExportTracePartialSuccess
            {
                RejectedSpans = rejectedSpans,
                ErrorMessage = $"{batch.Rejected.Count} routeiq.router_decision.v1 / routeiq.router_feedback.v1 event(s) rejected; first: {batch.Rejected[0].Reason}",
            };
        }
        await WriteResponseAsync(context, StatusCodes.Status200OK, response, isJson);
    }

    /// <summary>The decisions (and rejections) in one export request; rejected spans are those with at least one rejected event.</summary>
    public (IngestBatch Batch, long RejectedSpans) Extract(ExportTraceServiceRequest export, bool idsAreHexInBase64 = false)
    {
        var batch = new IngestBatch(IngestSources.Otlp);
        long rejectedSpans = 0;
        long index = 0;
        foreach (var resourceSpans in export.ResourceSpans)
        {
            foreach (var scopeSpans in resourceSpans.ScopeSpans)
            {
                foreach (var span in scopeSpans.Spans)
                {
                    var spanRejected = false;
                    string? traceId = null, spanId = null;
                    foreach (var spanEvent in span.Events)
                    {
                        var isFeedback = spanEvent.Name == FeedbackParser.ContractName;
                        if (!isFeedback && spanEvent.Name != DecisionParser.ContractName)
                        {
                            continue;
                        }
                        var attribute = isFeedback ? FeedbackParser.PayloadAttribute : DecisionParser.PayloadAttribute;
                        traceId ??= IdToHex(span.TraceId, idsAreHexInBase64);
                        spanId ??= IdToHex(span.SpanId, idsAreHexInBase64);
                        var context = new DecisionContext(IngestSources.Otlp, traceId, spanId,
                            spanEvent.TimeUnixNano > 0 ? (long)(spanEvent.TimeUnixNano / 1_000_000) : null);
                        var payload = FindPayload(spanEvent, attribute);
                        if (payload is null)
                        {
                            batch.Reject($"span event {spanEvent.Name}: attribute {attribute} missing",
                                index++, RawEvent(spanEvent), countAsReceived: true);
                            spanRejected = true;
                            continue;
                        }
                        string? json;
                        try
                        {
                            json = payload.ValueCase switch
                            {
                                AnyValue.ValueOneofCase.StringValue => payload.StringValue,
                                AnyValue.ValueOneofCase.KvlistValue => AnyValueJson.ToJson(payload, attribute),
                                _ => null,
                            };
                        }
                        catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException)
                        {
                            // NaN/±Infinity, invalid UTF-16, nesting too deep: a map that has no JSON form.
                            batch.Reject(ex is FormatException ? ex.Message : $"{attribute}: map has no JSON form ({ex.Message})",
                                index++, RawEvent(spanEvent), countAsReceived: true);
                            spanRejected = true;
                            continue;
                        }
                        if (json is null)
                        {
                            batch.Reject($"{attribute}: expected a JSON string or a map, got {payload.ValueCase}",
                                index++, RawEvent(spanEvent), countAsReceived: true);
                            spanRejected = true;
                            continue;
                        }
                        var result = isFeedback ? ingest.FeedbackParser.Parse(json, context) : ingest.Parser.Parse(json, context);
                        batch.Add(result, index++, () => json);
                        spanRejected |= !result.IsAccepted;
                    }
                    if (spanRejected)
                    {
                        rejectedSpans++;
                    }
                }
            }
        }
        return (batch, rejectedSpans);
    }

    /// <summary>A rejected span event's raw form: its OTLP/JSON, or base64 of its protobuf when it has none (a lone surrogate).</summary>
    private static string RawEvent(Span.Types.Event spanEvent)
    {
        try
        {
            return JsonFormatter.Default.Format(spanEvent);
        }
        catch (ArgumentException)
        {
            return RawBody.Base64Prefix + Convert.ToBase64String(spanEvent.ToByteArray());
        }
    }

    private static AnyValue? FindPayload(Span.Types.Event spanEvent, string name)
    {
        foreach (var attribute in spanEvent.Attributes)
        {
            if (attribute.Key == name)
            {
                return attribute.Value;
            }
        }
        return null;
    }

    /// <summary>
    /// OTLP/JSON writes ids as hex, where protobuf's JSON mapping expects base64. A hex string
    /// is also valid base64, so the JSON parser decodes it into other bytes; encoding those
    /// back to base64 restores the hex text exactly (16 and 32 characters need no padding).
    /// </summary>
    private static string? IdToHex(ByteString id, bool hexInBase64)
    {
        if (id.IsEmpty)
        {
            return null;
        }
        var hex = hexInBase64 ? id.ToBase64().ToLowerInvariant() : Convert.ToHexStringLower(id.Span);
        return DecisionParser.IsHex(hex, hex.Length) && hex.Length is 32 or 16 ? hex : null;
    }

    /// <summary>A request body in a buffer rented from the shared pool; disposing returns it.</summary>
    private sealed class PooledBody(byte[] buffer, int length) : IDisposable
    {
        private byte[]? _buffer = buffer;

        public int Length { get; } = length;
        public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _buffer, null) is { } rented)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static async Task<PooledBody> ReadBodyAsync(HttpRequest request, long maxDecompressed, CancellationToken cancellationToken)
    {
        var limit = request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize ?? ServiceDefaults.Extensions.MaxRequestBodyBytes;
        if (request.ContentLength > limit)
        {
            throw new BadHttpRequestException("request body too large", StatusCodes.Status413PayloadTooLarge);
        }
        var encoding = request.Headers.ContentEncoding.ToString().Trim().ToLowerInvariant();
        Stream source = request.Body;
        var max = long.MaxValue;
        if (encoding == "gzip")
        {
            source = new GZipStream(request.Body, CompressionMode.Decompress, leaveOpen: true);
            max = maxDecompressed;
        }
        else if (encoding is not ("" or "identity"))
        {
            throw new InvalidDataException($"unsupported Content-Encoding '{encoding}'");
        }
        await using (source)
        {
            // Sized by Content-Length when there is one (+1, so the end is seen without a regrow).
            var buffer = ArrayPool<byte>.Shared.Rent(request.ContentLength is > 0 and < 4 * 1024 * 1024 && encoding != "gzip"
                ? (int)request.ContentLength + 1
                : 64 * 1024);
            var length = 0;
            try
            {
                int read;
                while ((read = await source.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
                {
                    length += read;
                    if (length > max)
                    {
                        throw new PayloadTooLargeException();
                    }
                    if (length == buffer.Length)
                    {
                        var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }
                }
                return new PooledBody(buffer, length);
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }
        }
    }

    private async Task RejectRequestAsync(HttpContext context, string reason, string raw, int status, bool isJson)
    {
        var batch = new IngestBatch(IngestSources.Otlp);
        batch.Reject(reason, 0, raw, countAsReceived: true);
        try
        {
            await ingest.WriteAsync(batch, context.RequestAborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError(ex, "Could not store the rejected OTLP request ({Reason})", reason);
        }
        await WriteStatusAsync(context, status, reason, isJson);
    }

    /// <summary>Errors carry a google.rpc.Status (code, message), as OTLP/HTTP specifies.</summary>
    private static async Task WriteStatusAsync(HttpContext context, int status, string message, bool isJson)
    {
        context.Response.StatusCode = status;
        if (isJson)
        {
            context.Response.ContentType = JsonContentType;
            await context.Response.WriteAsync(JsonSerializer.Serialize(new { code = status == 400 ? 3 : 8, message }), context.RequestAborted);
            return;
        }
        // google.rpc.Status: int32 code = 1; string message = 2.
        var output = new MemoryStream();
        var writer = new CodedOutputStream(output);
        writer.WriteTag(1, WireFormat.WireType.Varint);
        writer.WriteInt32(status == 400 ? 3 : 8);
        writer.WriteTag(2, WireFormat.WireType.LengthDelimited);
        writer.WriteString(message);
        writer.Flush();
        context.Response.ContentType = ProtobufContentType;
        await context.Response.Body.WriteAsync(output.ToArray(), context.RequestAborted);
    }

    private static async Task WriteResponseAsync(HttpContext context, int status, ExportTraceServiceResponse response, bool isJson)
    {
        context.Response.StatusCode = status;
        if (isJson)
        {
            context.Response.ContentType = JsonContentType;
            await context.Response.WriteAsync(JsonFormatter.Default.Format(response), context.RequestAborted);
        }
        else
        {
            context.Response.ContentType = ProtobufContentType;
            await context.Response.Body.WriteAsync(response.ToByteArray(), context.RequestAborted);
        }
    }

    private sealed class PayloadTooLargeException : Exception;
}

/// <summary>An OTLP AnyValue as plain JSON (for payloads sent as a key-value map).</summary>
internal static class AnyValueJson
{
    /// <summary>The map as JSON; a value JSON cannot hold (NaN, ±Infinity) is a <see cref="FormatException"/> naming its key path.</summary>
    public static string ToJson(AnyValue value, string attribute = DecisionParser.PayloadAttribute)
    {
        using var stream = new MemoryStream();
        try
        {
            using var writer = new Utf8JsonWriter(stream);
            Write(writer, value);
        }
        catch (NotJsonException ex)
        {
            throw new FormatException($"{attribute}{ex.Path}: {ex.Value} is not a JSON number");
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Write(Utf8JsonWriter writer, AnyValue? value)
    {
        switch (value?.ValueCase)
        {
            case AnyValue.ValueOneofCase.StringValue: writer.WriteStringValue(value.StringValue); break;
            case AnyValue.ValueOneofCase.BoolValue: writer.WriteBooleanValue(value.BoolValue); break;
            case AnyValue.ValueOneofCase.IntValue: writer.WriteNumberValue(value.IntValue); break;
            case AnyValue.ValueOneofCase.DoubleValue when !double.IsFinite(value.DoubleValue):
                throw new NotJsonException(value.DoubleValue);
            case AnyValue.ValueOneofCase.DoubleValue: writer.WriteNumberValue(value.DoubleValue); break;
            case AnyValue.ValueOneofCase.BytesValue: writer.WriteBase64StringValue(value.BytesValue.Span); break;
            case AnyValue.ValueOneofCase.ArrayValue:
                writer.WriteStartArray();
                var i = 0;
                foreach (var item in value.ArrayValue.Values)
                {
                    try
                    {
                        Write(writer, item);
                    }
                    catch (NotJsonException ex)
                    {
                        ex.Path = $"[{i}]{ex.Path}";
                        throw;
                    }
                    i++;
                }
                writer.WriteEndArray();
                break;
            case AnyValue.ValueOneofCase.KvlistValue:
                writer.WriteStartObject();
                foreach (var kv in value.KvlistValue.Values)
                {
                    writer.WritePropertyName(kv.Key);
                    try
                    {
                        Write(writer, kv.Value);
                    }
                    catch (NotJsonException ex)
                    {
                        // The key path is built only on the way out of a failure.
                        ex.Path = "." + kv.Key + ex.Path;
                        throw;
                    }
                }
                writer.WriteEndObject();
                break;
            default: writer.WriteNullValue(); break;
        }
    }

    private sealed class NotJsonException(double value) : Exception
    {
        public double Value { get; } = value;
        public string Path { get; set; } = "";
    }
}
