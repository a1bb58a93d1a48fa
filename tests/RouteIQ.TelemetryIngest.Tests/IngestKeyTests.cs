using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Google.Protobuf;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;
using RouteIQ.TelemetryIngest.Otlp.Proto;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>Issue 15 §4: the ingest routes take an ingest (or admin) key whenever any key is configured.</summary>
[Trait("Category", "Integration")]
public sealed class IngestKeyTests
{
    private const string AdminKey = "admin-key-0123456789abcdef";
    private const string IngestKey = "ingest-key-0123456789abcdef";

    private static Task<TelemetryHost> StartAsync(bool adminKey, bool ingestKey) => TelemetryHost.StartAsync("ti-keys", new Dictionary<string, string?>
    {
        ["RouteIQ:Admin:ApiKeys:0"] = adminKey ? AdminKey : null,
        ["RouteIQ:Telemetry:IngestKeys:0"] = ingestKey ? IngestKey : null,
    });

    private static HttpRequestMessage Traces(string? header = null, string? value = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/traces")
        {
            Content = new ByteArrayContent(new ExportTraceServiceRequest().ToByteArray()),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        if (header is not null)
        {
            request.Headers.TryAddWithoutValidation(header, value);
        }
        return request;
    }

    private static HttpRequestMessage Events(string? header = null, string? value = null, string path = "admin/telemetry/events")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent("") };
        if (header is not null)
        {
            request.Headers.TryAddWithoutValidation(header, value);
        }
        return request;
    }

    private static async Task<HttpStatusCode> SendAsync(TelemetryHost host, HttpRequestMessage request)
    {
        using (request)
        using (var response = await host.Client.SendAsync(request))
        {
            return response.StatusCode;
        }
    }

    [Fact]
    public async Task WithAdminAndIngestKeysOtlpAndEventsNeedOneAndIngestKeysOpenNothingElse()
    {
        await using var host = await StartAsync(adminKey: true, ingestKey: true);

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, Traces()));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, Traces("X-API-Key", "wrong")));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, Traces("Authorization", "Bearer " + IngestKey + "x")));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(host, Traces("X-API-Key", IngestKey)));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(host, Traces("Authorization", "Bearer " + IngestKey)));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(host, Traces("Authorization", "Bearer " + AdminKey)));

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, Events()));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(host, Events("X-API-Key", IngestKey)));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(host, Events("X-API-Key", AdminKey)));

        // Grades (POST /v1/feedback) are ingest too: a judge needs the same key.
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, Events(path: "v1/feedback")));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, Events("X-API-Key", "wrong", "v1/feedback")));
        Assert.NotEqual(HttpStatusCode.Unauthorized, await SendAsync(host, Events("X-API-Key", IngestKey, "v1/feedback")));
        Assert.NotEqual(HttpStatusCode.Unauthorized, await SendAsync(host, Events("Authorization", "Bearer " + AdminKey, "v1/feedback")));

        // An ingest key is not an admin key.
        using var summary = new HttpRequestMessage(HttpMethod.Get, "admin/telemetry/summary");
        summary.Headers.Add("X-API-Key", IngestKey);
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, summary));
        using var rejected = new HttpRequestMessage(HttpMethod.Get, "admin/telemetry/rejected");
        rejected.Headers.Add("Authorization", "Bearer " + IngestKey);
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, rejected));
    }

    [Fact]
    public async Task AnAdminKeyAloneClosesTheOtlpRoute()
    {
        await using var host = await StartAsync(adminKey: true, ingestKey: false);

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, Traces()));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(host, Traces("X-API-Key", AdminKey)));
    }

    [Fact]
    public async Task AnIngestKeyAloneClosesBothIngestRoutes()
    {
        await using var host = await StartAsync(adminKey: false, ingestKey: true);

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, Traces()));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(host, Events()));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(host, Events("X-API-Key", IngestKey)));
    }

    [Fact]
    public async Task AnOtlpExporterWithTheKeyInItsHeadersSettingDelivers()
    {
        await using var host = await StartAsync(adminKey: true, ingestKey: true);
        var generator = new SyntheticTelemetry(seed: 1520, start: DateTimeOffset.UtcNow.AddDays(-1));
        using var source = new ActivitySource("ingest-key-" + Guid.NewGuid().ToString("N"));
        using (var provider = Sdk.CreateTracerProviderBuilder()
                   .AddSource(source.Name)
                   .AddOtlpExporter(o =>
                   {
                       o.Endpoint = new Uri(host.BaseUri, "v1/traces");
                       o.Protocol = OtlpExportProtocol.HttpProtobuf;
                       o.Headers = "X-API-Key=" + IngestKey; // OTEL_EXPORTER_OTLP_HEADERS
                   })
                   .Build())
        {
            for (var i = 0; i < 5; i++)
            {
                using var activity = source.StartActivity("route");
                activity!.AddEvent(new ActivityEvent("routeiq.router_decision.v1", tags: new ActivityTagsCollection
                {
                    ["routeiq.router_decision.payload"] = Encoding.UTF8.GetString(generator.Event(i)),
                }));
            }
            Assert.True(provider.ForceFlush(30_000));
        }

        await TestInfra.WaitUntilAsync(async () => await host.CountDecisionsAsync(generator.TimestampMs(0), generator.TimestampMs(5)) == 5,
            TimeSpan.FromSeconds(30), "5 decisions exported with the ingest key");
    }
}
