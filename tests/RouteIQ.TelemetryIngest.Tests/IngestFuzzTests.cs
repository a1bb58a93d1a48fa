using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Otlp.Proto;
using RouteIQ.TelemetryIngest.Store;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

[Trait("Category", "Integration")]
public sealed class IngestFuzzFixture : IAsyncLifetime
{
    public TelemetryHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await TelemetryHost.StartAsync("ti-fuzz");

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>
/// Issue 15 §3: seeded mutated, truncated and invalid-UTF-8 bodies through every HTTP input and the
/// JSONL import, thousands of events each: every event sent is stored, a duplicate, or rejected
/// (accepted + duplicates + rejected = sent), no request gets a 500, and the service stays alive.
/// The RabbitMQ input's run is in <see cref="PoisonMessageTests"/> (real broker).
/// </summary>
[Trait("Category", "Integration")]
public sealed class IngestFuzzTests(IngestFuzzFixture fixture) : IClassFixture<IngestFuzzFixture>
{
    private static readonly JsonParser OtlpJsonParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    private TelemetryHost Host => fixture.Host;

    [Fact]
    public async Task NdjsonRequestsOfMutatedLines()
    {
        var hostile = new HostileBytes(1501);
        var generator = new SyntheticTelemetry(seed: 1501, start: DateTimeOffset.UtcNow.AddDays(-2));
        var next = 0;

        var sent = await CountedAsync(async () =>
        {
            long lines = 0;
            for (var request = 0; request < 250; request++)
            {
                var body = new List<byte>();
                var count = 1 + hostile.Next(12);
                for (var i = 0; i < count; i++)
                {
                    var line = hostile.MutateLine(generator.Event(next++));
                    if (i == 0 && line.AsSpan().TrimStart(" \t\r\n\uFEFF"u8) is [(byte)'[', ..])
                    {
                        line = [(byte)'x', .. line]; // would be read as a JSON array
                    }
                    body.AddRange(line);
                    body.Add((byte)'\n');
                }
                lines += count;
                using var response = await Host.Client.PostAsync("admin/telemetry/events", new ByteArrayContent([.. body]));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            return lines;
        });

        Assert.True(sent >= 1000);
    }

    [Fact]
    public async Task JsonArrayRequestsOfMutatedElements()
    {
        var hostile = new HostileBytes(1502);
        var generator = new SyntheticTelemetry(seed: 1502, start: DateTimeOffset.UtcNow.AddDays(-2));
        var next = 0;

        var sent = await CountedAsync(async () =>
        {
            long units = 0;
            for (var request = 0; request < 200; request++)
            {
                var body = new List<byte> { (byte)'[' };
                var count = 1 + hostile.Next(10);
                for (var i = 0; i < count; i++)
                {
                    body.AddRange(hostile.MutateLine(generator.Event(next++)));
                    body.Add(i == count - 1 ? (byte)']' : (byte)',');
                }
                var elements = ArrayElements([.. body]);
                using var response = await Host.Client.PostAsync("admin/telemetry/events", new ByteArrayContent([.. body]));
                // A damaged array is one document rejected whole (400, one rejected event); otherwise each element counts.
                Assert.Equal(elements is null ? HttpStatusCode.BadRequest : HttpStatusCode.OK, response.StatusCode);
                units += elements ?? 1;
            }
            return units;
        });

        Assert.True(sent >= 200);
    }

    [Fact]
    public async Task OtlpProtobufAndJsonRequestsWithMutatedPayloadsAndBodies()
    {
        var hostile = new HostileBytes(1503);
        var generator = new SyntheticTelemetry(seed: 1503, start: DateTimeOffset.UtcNow.AddDays(-2));
        var next = 0;

        var sent = await CountedAsync(async () =>
        {
            long units = 0;
            for (var request = 0; request < 300; request++)
            {
                var export = new ExportTraceServiceRequest();
                var scope = new ScopeSpans();
                export.ResourceSpans.Add(new ResourceSpans { ScopeSpans = { scope } });
                for (var s = 1 + hostile.Next(4); s > 0; s--)
                {
                    var span = new Span
                    {
                        Name = "route",
                        TraceId = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()),
                        SpanId = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()[..8]),
                    };
                    for (var e = 1 + hostile.Next(2); e > 0; e--)
                    {
                        var payload = hostile.Next(4) == 0
                            ? KvlistPayload(hostile, generator.Event(next++))
                            : new AnyValue { StringValue = Encoding.UTF8.GetString(hostile.Mutate(generator.Event(next++))) };
                        var spanEvent = new Span.Types.Event { Name = "routeiq.router_decision.v1", TimeUnixNano = (ulong)(hostile.Next(3) == 0 ? 0 : generator.TimestampMs(next) * 1_000_000) };
                        spanEvent.Attributes.Add(new KeyValue { Key = "routeiq.router_decision.payload", Value = payload });
                        span.Events.Add(spanEvent);
                    }
                    scope.Spans.Add(span);
                }

                var isJson = request % 3 == 0 && TryFormatJson(export, out _);
                var body = isJson ? Encoding.UTF8.GetBytes(JsonFormatter.Default.Format(export)) : export.ToByteArray();
                if (request % 5 == 4)
                {
                    body = isJson ? hostile.Mutate(body) : hostile.Garbage(body);
                }
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue(isJson ? "application/json" : "application/x-protobuf");
                using var response = await Host.Client.PostAsync("v1/traces", content);
                if (response.StatusCode == HttpStatusCode.BadRequest)
                {
                    units++; // an undecodable request is one rejected event with its bytes
                    continue;
                }
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var decoded = isJson ? OtlpJsonParser.Parse<ExportTraceServiceRequest>(Encoding.UTF8.GetString(body)) : ExportTraceServiceRequest.Parser.ParseFrom(body);
                units += decoded.ResourceSpans.SelectMany(r => r.ScopeSpans).SelectMany(s => s.Spans).SelectMany(s => s.Events)
                    .Count(e => e.Name == "routeiq.router_decision.v1");
            }
            return units;
        });

        Assert.True(sent >= 700);
    }

    [Fact]
    public async Task AJsonlFileImportOfMutatedLines()
    {
        var hostile = new HostileBytes(1504);
        var generator = new SyntheticTelemetry(seed: 1504, start: DateTimeOffset.UtcNow.AddDays(-2));
        var path = Path.Combine(Host.DataDir, "fuzz.jsonl");
        const int lines = 3000;
        await using (var file = File.Create(path))
        {
            for (var i = 0; i < lines; i++)
            {
                await file.WriteAsync(hostile.MutateLine(generator.Event(i)));
                file.WriteByte((byte)'\n');
            }
        }

        var sent = await CountedAsync(async () =>
        {
            var report = await Host.Services.GetRequiredService<JsonlImporter>().ImportFileAsync(path);
            Assert.Equal(lines, report.Received);
            return lines;
        });

        Assert.Equal(lines, sent);
    }

    /// <summary>Runs <paramref name="send"/> (which returns how many events it sent) and checks every one was stored, a duplicate, or rejected.</summary>
    private async Task<long> CountedAsync(Func<Task<long>> send)
    {
        var metrics = Host.Services.GetRequiredService<IngestMetrics>();
        var (decisions, rejected) = await CountsAsync();
        var duplicates = metrics.DuplicatesSinceStart;

        var sent = await send();

        var (decisionsAfter, rejectedAfter) = await CountsAsync();
        var stored = decisionsAfter - decisions;
        var rejectedNow = rejectedAfter - rejected;
        Assert.Equal(sent, stored + rejectedNow + (metrics.DuplicatesSinceStart - duplicates));
        Assert.True(stored > 0 && rejectedNow > 0, $"a fuzz run should both store and reject (stored {stored}, rejected {rejectedNow})");
        using var live = await Host.Client.GetAsync("health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        return sent;
    }

    /// <summary>OTLP/JSON has no form for a lone surrogate (protobuf does: it is sent that way instead).</summary>
    private static bool TryFormatJson(ExportTraceServiceRequest export, out string json)
    {
        try
        {
            json = JsonFormatter.Default.Format(export);
            return true;
        }
        catch (ArgumentException)
        {
            json = "";
            return false;
        }
    }

    private async Task<(long Decisions, long Rejected)> CountsAsync()
    {
        await using var db = await Host.DbAsync();
        return (await db.Decisions.LongCountAsync(), await db.RejectedEvents.LongCountAsync());
    }

    /// <summary>The elements of an array body, or null when the array is malformed.</summary>
    private static long? ArrayElements(byte[] body)
    {
        long elements = 0;
        try
        {
            var reader = new Utf8JsonReader(body);
            reader.Read();
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                reader.Skip();
                elements++;
            }
            return reader.TokenType == JsonTokenType.EndArray ? elements : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The event as an OTLP map, with a hostile value (NaN, ±Infinity, deep nesting, a lone surrogate) now and then.</summary>
    private static AnyValue KvlistPayload(HostileBytes hostile, byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        var map = (AnyValue)ToAnyValue(document.RootElement);
        var extra = hostile.Next(6) switch
        {
            0 => new AnyValue { DoubleValue = double.NaN },
            1 => new AnyValue { DoubleValue = double.PositiveInfinity },
            2 => new AnyValue { DoubleValue = double.NegativeInfinity },
            3 => Nested(300),
            4 => new AnyValue { StringValue = "\ud800" },
            _ => null,
        };
        if (extra is not null)
        {
            map.KvlistValue.Values.Add(new KeyValue { Key = "hostile", Value = extra });
        }
        return map;
    }

    private static AnyValue Nested(int depth)
    {
        var value = new AnyValue { IntValue = 1 };
        for (var i = 0; i < depth; i++)
        {
            value = new AnyValue { KvlistValue = new KeyValueList { Values = { new KeyValue { Key = "n", Value = value } } } };
        }
        return value;
    }

    private static AnyValue ToAnyValue(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => new AnyValue { KvlistValue = new KeyValueList { Values = { element.EnumerateObject().Select(p => new KeyValue { Key = p.Name, Value = ToAnyValue(p.Value) }) } } },
        JsonValueKind.Array => new AnyValue { ArrayValue = new ArrayValue { Values = { element.EnumerateArray().Select(ToAnyValue) } } },
        JsonValueKind.String => new AnyValue { StringValue = element.GetString() },
        JsonValueKind.Number when element.TryGetInt64(out var l) => new AnyValue { IntValue = l },
        JsonValueKind.Number => new AnyValue { DoubleValue = element.GetDouble() },
        JsonValueKind.True => new AnyValue { BoolValue = true },
        JsonValueKind.False => new AnyValue { BoolValue = false },
        _ => new AnyValue(),
    };
}
