using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.EntityFrameworkCore;
using RouteIQ.TelemetryIngest.Otlp.Proto;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

[Trait("Category", "Integration")]
public sealed class ParserAcceptsOrRejectsFixture : IAsyncLifetime
{
    public TelemetryHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await TelemetryHost.StartAsync("ti-accept-reject");

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Issue 15 §3: every event is stored or rejected with its bytes and a reason naming the field; nothing throws past the parser.</summary>
[Trait("Category", "Integration")]
public sealed class ParserAcceptsOrRejectsTests(ParserAcceptsOrRejectsFixture fixture) : IClassFixture<ParserAcceptsOrRejectsFixture>
{
    private static readonly DecisionParser Parser = new(new TelemetryIngestOptions(), TimeProvider.System);
    private TelemetryHost Host => fixture.Host;

    private static byte[] Event(string fields) => Encoding.UTF8.GetBytes(
        "{\"contract_name\":\"routeiq.router_decision.v1\",\"event_id\":\"" + Guid.NewGuid() + "\",\"selected_deployment\":\"gpt-4\"" + fields + "}");

    /// <summary>An event whose selected_deployment is not UTF-8 (0xFF 0xFE inside the string).</summary>
    private static byte[] InvalidUtf8Event(string marker)
    {
        var head = Encoding.UTF8.GetBytes("{\"contract_name\":\"routeiq.router_decision.v1\",\"m\":\"" + marker + "\",\"selected_deployment\":\"gpt-");
        return [.. head, 0xFF, 0xFE, .. "\"}"u8];
    }

    [Theory]
    [InlineData("strategy_name")]
    [InlineData("selected_deployment")]
    [InlineData("event_id")]
    [InlineData("unknown_key")]
    public void InvalidUtf8InAStringIsRejectedNotThrown(string field)
    {
        byte[] json = [.. "{\"contract_name\":\"routeiq.router_decision.v1\",\""u8, .. Encoding.UTF8.GetBytes(field), .. "\":\"a"u8, 0xC3, 0x28, 0xFF, .. "\"}"u8];

        var result = Parser.Parse(json, new DecisionContext(IngestSources.Bus));

        Assert.False(result.IsAccepted);
        Assert.StartsWith("malformed", result.Reason);
    }

    [Theory]
    [InlineData(",\"outcome\":{\"input_tokens\":-5}", "outcome.input_tokens: must not be negative")]
    [InlineData(",\"outcome\":{\"output_tokens\":-1}", "outcome.output_tokens: must not be negative")]
    [InlineData(",\"outcome\":{\"total_tokens\":-300}", "outcome.total_tokens: must not be negative")]
    [InlineData(",\"outcome\":{\"total_tokens\":9223372036854775807}", "outcome.total_tokens: over")]
    [InlineData(",\"timestamp_unix_ms\":-1", "timestamp_unix_ms: before 1970")]
    [InlineData(",\"timestamp_utc\":\"1969-12-31T23:59:59Z\"", "timestamp_utc: before 1970")]
    [InlineData(",\"timestamp_unix_ms\":32503680000000", "timestamp_unix_ms: more than")]
    [InlineData(",\"timestamp_utc\":\"2999-01-01T00:00:00Z\"", "timestamp_utc: more than")]
    public void OutOfRangeCountsAndTimesAreRejectedNamingTheField(string fields, string reason)
    {
        var result = Parser.Parse(Event(fields), new DecisionContext(IngestSources.Bus));

        Assert.False(result.IsAccepted);
        Assert.StartsWith(reason, result.Reason);
    }

    [Fact]
    public void ASpanTimeFarInTheFutureIsRejectedAsTheSpanTime()
    {
        var future = DateTimeOffset.UtcNow.AddYears(5).ToUnixTimeMilliseconds();

        var result = Parser.Parse(Event(""), new DecisionContext(IngestSources.Otlp, TimestampMs: future));

        Assert.StartsWith("time_unix_nano: more than", result.Reason);
    }

    [Fact]
    public void LegacyRecordsWithNegativeTokensOrTimesBefore1970AreRejected()
    {
        var tokens = Parser.Parse("{\"query\":\"q\",\"model_name\":\"m\",\"token_num\":-7}"u8, new DecisionContext(IngestSources.File));
        var time = Parser.Parse("{\"query\":\"q\",\"model_name\":\"m\",\"timestamp\":-5000000}"u8, new DecisionContext(IngestSources.File));

        Assert.StartsWith("token_num: must not be negative", tokens.Reason);
        Assert.StartsWith("timestamp: before 1970", time.Reason);
    }

    [Fact]
    public async Task AnInvalidUtf8LineInNdjsonIsRejectedAndTheLinesAroundItAreStored()
    {
        var marker = Guid.NewGuid().ToString("N");
        var good1 = Event("");
        var good2 = Event("");
        byte[] body = [.. good1, (byte)'\n', .. InvalidUtf8Event(marker), (byte)'\n', .. good2, (byte)'\n'];

        using var response = await Host.Client.PostAsync("admin/telemetry/events", new ByteArrayContent(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var report = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(3, report.GetProperty("received").GetInt64());
        Assert.Equal(2, report.GetProperty("stored").GetInt64());
        Assert.Equal(1, report.GetProperty("rejected").GetInt64());
        var rejected = await RejectedWithBytesAsync(marker);
        Assert.Equal(InvalidUtf8Event(marker), rejected);
    }

    [Fact]
    public async Task AnInvalidUtf8ElementInAnArrayIsRejectedAndTheOthersAreStored()
    {
        var marker = Guid.NewGuid().ToString("N");
        byte[] body = [(byte)'[', .. Event(""), (byte)',', .. InvalidUtf8Event(marker), (byte)',', .. Event(""), (byte)']'];

        using var response = await Host.Client.PostAsync("admin/telemetry/events", new ByteArrayContent(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var report = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(2, report.GetProperty("stored").GetInt64());
        Assert.Equal(1, report.GetProperty("rejected").GetInt64());
        Assert.Equal(InvalidUtf8Event(marker), await RejectedWithBytesAsync(marker));
    }

    [Fact]
    public async Task ATruncatedArrayIsA400AndIsKeptAsOneRejectedEvent()
    {
        var marker = Guid.NewGuid().ToString("N");
        var tail = "{\"contract_name\":\"routeiq.router_decision.v1\",\"m\":\"" + marker + "\",\"sel";
        byte[] body = [(byte)'[', .. Event(""), (byte)',', .. Encoding.UTF8.GetBytes(tail)];

        using var response = await Host.Client.PostAsync("admin/telemetry/events", new ByteArrayContent(body));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var row = Assert.Single(await Host.RejectedAsync(), r => r.RawBody.Contains(marker));
        Assert.StartsWith("body: malformed JSON array", row.Reason);
        Assert.Equal(body, Encoding.UTF8.GetBytes(row.RawBody));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public async Task NonFiniteNumbersInAnOtlpKvlistPayloadAreRejectedNamingTheKey(double value)
    {
        var good = Event("");
        var request = new ExportTraceServiceRequest
        {
            ResourceSpans = { new ResourceSpans { ScopeSpans = { new ScopeSpans { Spans =
            {
                OtlpSpan(new AnyValue { StringValue = Encoding.UTF8.GetString(good) }),
                OtlpSpan(new AnyValue { KvlistValue = new KeyValueList { Values =
                {
                    new KeyValue { Key = "contract_name", Value = new AnyValue { StringValue = "routeiq.router_decision.v1" } },
                    new KeyValue { Key = "timings", Value = new AnyValue { KvlistValue = new KeyValueList { Values =
                    {
                        new KeyValue { Key = "total_ms", Value = new AnyValue { DoubleValue = value } },
                    } } } },
                } } }),
            } } } } },
        };
        var before = (await Host.RejectedAsync()).Count;
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");

        using var response = await Host.Client.PostAsync("v1/traces", content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = ExportTraceServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(1, answer.PartialSuccess.RejectedSpans);
        var rejected = (await Host.RejectedAsync()).Skip(before).ToList();
        Assert.StartsWith("routeiq.router_decision.payload.timings.total_ms:", Assert.Single(rejected).Reason);
        await using var db = await Host.DbAsync();
        Assert.True(await db.Decisions.AnyAsync(d => d.EventId == JsonDocument.Parse(good).RootElement.GetProperty("event_id").GetString()));
    }

    [Theory]
    [InlineData("since=99999999999999999", "since")]
    [InlineData("since=-99999999999999999", "since")]
    [InlineData("until=253402300800000", "until")]
    public async Task AnOutOfRangeSummaryWindowIsA400NamingTheField(string query, string field)
    {
        using var response = await Host.Client.GetAsync("admin/telemetry/summary?" + query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(field, problem.GetProperty("field").GetString());
    }

    private async Task<byte[]> RejectedWithBytesAsync(string marker)
    {
        // The raw bytes come back exactly: text that is not UTF-8 is kept as base64.
        var rows = await Host.RejectedAsync();
        var row = Assert.Single(rows, r => r.RawBody.StartsWith(RawBody.Base64Prefix, StringComparison.Ordinal)
            && Encoding.Latin1.GetString(Convert.FromBase64String(r.RawBody[RawBody.Base64Prefix.Length..])).Contains(marker));
        Assert.StartsWith("malformed", row.Reason);
        return Convert.FromBase64String(row.RawBody[RawBody.Base64Prefix.Length..]);
    }

    private static Span OtlpSpan(AnyValue payload)
    {
        var e = new Span.Types.Event { Name = "routeiq.router_decision.v1", TimeUnixNano = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000 };
        e.Attributes.Add(new KeyValue { Key = "routeiq.router_decision.payload", Value = payload });
        var span = new Span
        {
            Name = "route",
            TraceId = ByteString.CopyFrom(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)),
            SpanId = ByteString.CopyFrom(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)),
        };
        span.Events.Add(e);
        return span;
    }
}
