using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;
using RouteIQ.TelemetryIngest.Otlp.Proto;

using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

[Trait("Category", "Integration")]
public sealed class OtlpReceiverFixture : IAsyncLifetime
{
    public TelemetryHost Host { get; private set; } = null!;

    // Embedded composition: SQLite, in-memory bus.
    public async Task InitializeAsync() => Host = await TelemetryHost.StartAsync("ti-otlp");

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

[Trait("Category", "Integration")]
public sealed class OtlpReceiverTests(OtlpReceiverFixture fixture) : IClassFixture<OtlpReceiverFixture>
{
    private static readonly DateTimeOffset Day = new(2026, 5, 1, 0, 0, 0, TimeSpan.Zero);
    private TelemetryHost Host => fixture.Host;

    [Fact]
    public async Task TheOpenTelemetrySdkExporterOverHttpProtobufDeliversDecisions()
    {
        var generator = new SyntheticTelemetry(seed: 31, start: Day);
        using var source = new ActivitySource("test-gateway-" + Guid.NewGuid().ToString("N"));
        using (var provider = Sdk.CreateTracerProviderBuilder()
                   .AddSource(source.Name)
                   .AddOtlpExporter(o =>
                   {
                       o.Endpoint = new Uri(Host.BaseUri, "v1/traces");
                       o.Protocol = OtlpExportProtocol.HttpProtobuf;
                       o.ExportProcessorType = ExportProcessorType.Batch;
                   })
                   .Build())
        {
            for (var i = 0; i < 20; i++)
            {
                using var activity = source.StartActivity("litellm.route");
                Assert.NotNull(activity);
                activity.AddEvent(new ActivityEvent("routeiq.router_decision.v1", tags: new ActivityTagsCollection
                {
                    ["routeiq.router_decision.payload"] = Encoding.UTF8.GetString(generator.Event(i)),
                }));
            }
            Assert.True(provider.ForceFlush(30_000));
        }

        await TestInfra.WaitUntilAsync(async () => await Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(20)) == 20,
            TimeSpan.FromSeconds(30), "20 decisions from the OTLP exporter");
        await using var db = await Host.DbAsync();
        Assert.Equal("otlp", (await db.Decisions.SingleAsync(d => d.EventId == generator.EventId(7))).Source);
    }

    [Fact]
    public async Task OtlpJsonWithGzipIsStoredAndTheSpanIdsFillInMissingOnes()
    {
        var generator = new SyntheticTelemetry(seed: 32, start: Day.AddDays(1));
        var bareId = Guid.NewGuid().ToString("D");
        var bare = $$$"""{"contract_name":"routeiq.router_decision.v1","event_id":"{{{bareId}}}","timestamp_unix_ms":{{{generator.TimestampMs(3)}}},"selected_deployment":"gpt-4o","outcome":{"status":"success"}}""";
        var payloads = new[] { Encoding.UTF8.GetString(generator.Event(0)), Encoding.UTF8.GetString(generator.Event(1)), bare };
        var body = OtlpJson(payloads, traceId: "5bf92f3577b34da6a3ce929d0e0e4736", spanId: "10f067aa0ba902b7");

        using var content = new ByteArrayContent(Gzip(Encoding.UTF8.GetBytes(body)));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        content.Headers.ContentEncoding.Add("gzip");
        using var response = await Host.Client.PostAsync("v1/traces", content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("rejectedSpans", await response.Content.ReadAsStringAsync());
        Assert.Equal(3, await Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(4)));
        await using var db = await Host.DbAsync();
        var stored = await db.Decisions.SingleAsync(d => d.EventId == bareId);
        Assert.Equal("5bf92f3577b34da6a3ce929d0e0e4736", stored.TraceId);
        Assert.Equal("10f067aa0ba902b7", stored.SpanId);
    }

    [Fact]
    public async Task ConcurrentExportsAreEachCommittedBeforeTheirResponse()
    {
        // Concurrent exports share transactions (group commit); each 200 must still mean "my rows are stored".
        var generator = new SyntheticTelemetry(seed: 35, start: Day.AddDays(5));
        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(async r =>
        {
            var payloads = Enumerable.Range(r * 25, 25).Select(i => Encoding.UTF8.GetString(generator.Event(i)));
            using var content = new StringContent(OtlpJson(payloads, traceId: "5bf92f3577b34da6a3ce929d0e0e4736", spanId: "10f067aa0ba902b7"),
                Encoding.UTF8, "application/json");
            using var response = await Host.Client.PostAsync("v1/traces", content);
            // Counted right after this response, before any other request is known to be done.
            var stored = await Host.CountDecisionsAsync(generator.TimestampMs(r * 25), generator.TimestampMs(r * 25 + 25));
            return (response.StatusCode, Stored: stored);
        }));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(responses, r => Assert.Equal(25, r.Stored));
        Assert.Equal(300, await Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(300)));
    }

    [Fact]
    public async Task AnEventWithoutItsPayloadAttributeIsAPartialSuccess()
    {
        var generator = new SyntheticTelemetry(seed: 33, start: Day.AddDays(2));
        var request = new ExportTraceServiceRequest();
        var spans = new ScopeSpans();
        spans.Spans.Add(SpanWith(Event(payload: Encoding.UTF8.GetString(generator.Event(0)))));
        spans.Spans.Add(SpanWith(Event(payload: null)));
        spans.Spans.Add(SpanWith(Event(payload: "{\"contract_name\":\"routeiq.router_decision.v1\",\"outcome\":{\"status\":\"melted\"}}")));
        spans.Spans.Add(new Span { Name = "unrelated", TraceId = ByteString.CopyFrom(new byte[16]), SpanId = ByteString.CopyFrom(new byte[8]) });
        request.ResourceSpans.Add(new ResourceSpans { ScopeSpans = { spans } });

        var response = await PostProtobufAsync(request.ToByteArray());

        Assert.Equal(HttpStatusCode.OK, response.Status);
        var parsed = ExportTraceServiceResponse.Parser.ParseFrom(response.Body);
        Assert.Equal(2, parsed.PartialSuccess.RejectedSpans);
        Assert.Contains("routeiq.router_decision.payload missing", parsed.PartialSuccess.ErrorMessage);
        Assert.Equal(1, await Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(1)));
        var reasons = (await Host.RejectedAsync()).Select(r => r.Reason).ToList();
        Assert.Contains(reasons, r => r.Contains("attribute routeiq.router_decision.payload missing"));
        Assert.Contains(reasons, r => r.StartsWith("outcome.status: unknown value 'melted'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ProtobufGarbageIsABadRequestAndIsKeptAsRejected()
    {
        var garbage = new byte[] { 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01, 0x02 };

        var response = await PostProtobufAsync(garbage);

        Assert.Equal(HttpStatusCode.BadRequest, response.Status);
        Assert.Contains(await Host.RejectedAsync(), r => r.Source == "otlp" && r.Reason.StartsWith("undecodable OTLP protobuf", StringComparison.Ordinal));
        // The receiver keeps working.
        var generator = new SyntheticTelemetry(seed: 34, start: Day.AddDays(3));
        var ok = new ExportTraceServiceRequest { ResourceSpans = { new ResourceSpans { ScopeSpans = { new ScopeSpans { Spans = { SpanWith(Event(Encoding.UTF8.GetString(generator.Event(0)))) } } } } } };
        Assert.Equal(HttpStatusCode.OK, (await PostProtobufAsync(ok.ToByteArray())).Status);
        Assert.Equal(1, await Host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(1)));
    }

    [Fact]
    public async Task ABodyOverOneMebibyteIs413AndIsKeptAsRejected()
    {
        var response = await PostProtobufAsync(new byte[1024 * 1024 + 10]);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.Status);
        Assert.Contains(await Host.RejectedAsync(), r => r.Source == "otlp" && r.Reason.Contains("over the 1 MiB limit"));
    }

    [Fact]
    public async Task AnUnsupportedContentTypeIs415()
    {
        using var content = new StringContent("hello", Encoding.UTF8, "text/plain");
        using var response = await Host.Client.PostAsync("v1/traces", content);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    internal static Span SpanWith(Span.Types.Event spanEvent)
    {
        var span = new Span
        {
            TraceId = ByteString.CopyFrom(RandomNumberBytes(16)),
            SpanId = ByteString.CopyFrom(RandomNumberBytes(8)),
            Name = "litellm.route",
            Kind = Span.Types.SpanKind.Server,
            StartTimeUnixNano = 1_760_000_000_000_000_000,
            EndTimeUnixNano = 1_760_000_000_100_000_000,
        };
        span.Events.Add(spanEvent);
        return span;
    }

    internal static Span.Types.Event Event(string? payload)
    {
        var e = new Span.Types.Event { Name = "routeiq.router_decision.v1", TimeUnixNano = 1_760_000_000_050_000_000 };
        if (payload is not null)
        {
            e.Attributes.Add(new KeyValue { Key = "routeiq.router_decision.payload", Value = new AnyValue { StringValue = payload } });
        }
        return e;
    }

    private static byte[] RandomNumberBytes(int n) => System.Security.Cryptography.RandomNumberGenerator.GetBytes(n);

    private async Task<(HttpStatusCode Status, byte[] Body)> PostProtobufAsync(byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/traces") { Content = content };
        // As exporters and curl do for large bodies: the server can refuse one before it is sent. Without it the
        // client may still be writing the body when the 413 closes the connection, and reads a broken pipe instead.
        request.Headers.ExpectContinue = body.Length > 64 * 1024;
        using var response = await Host.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsByteArrayAsync());
    }

    private static string OtlpJson(IEnumerable<string> payloads, string traceId, string spanId)
    {
        var events = payloads.Select(p => new Dictionary<string, object>
        {
            ["timeUnixNano"] = "1760000000050000000",
            ["name"] = "routeiq.router_decision.v1",
            ["attributes"] = new[] { new { key = "routeiq.router_decision.payload", value = new { stringValue = p } } },
        });
        var document = new
        {
            resourceSpans = new[]
            {
                new
                {
                    resource = new { attributes = new[] { new { key = "service.name", value = new { stringValue = "gateway" } } } },
                    scopeSpans = new[]
                    {
                        new
                        {
                            scope = new { name = "litellm" },
                            spans = new[]
                            {
                                new
                                {
                                    traceId, spanId, name = "litellm.route", kind = 2,
                                    startTimeUnixNano = "1760000000000000000", endTimeUnixNano = "1760000000100000000",
                                    events,
                                },
                            },
                        },
                    },
                },
            },
        };
        return JsonSerializer.Serialize(document);
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest))
        {
            gzip.Write(data);
        }
        return output.ToArray();
    }
}
