using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>
/// Issue 15 §6 (Jaeger import): the response is read as it streams in and refused past a size cap;
/// only allow-listed hosts are called, redirects are not followed; errors report the status only,
/// never addresses or socket errors (which made the endpoint a port scanner).
/// </summary>
[Trait("Category", "Integration")]
public sealed class JaegerImportLimitsTests
{
    private static readonly byte[] Recorded = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "Recorded", "jaeger-traces.json"));

    [Fact]
    public async Task AnEndlessResponseIsCutAtTheCapWhileItStreams()
    {
        await using var host = await TelemetryHost.StartAsync("ti-jaeger-cap", new Dictionary<string, string?>
        {
            ["RouteIQ:Telemetry:JaegerMaxResponseBytes"] = (1024 * 1024).ToString(),
        });
        var written = 0L;
        // A raw socket, not Kestrel: Kestrel completes writes to a connection the client has closed without
        // sending anything, so a count of its writes can race on to the end; a socket's send fails instead, and
        // `written` counts only what the connection took.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync();
            await socket.ReceiveAsync(new byte[16 * 1024]); // the GET; its content does not matter here
            // {"data":[{"spans":[]},{"spans":[]},… without end and without Content-Length (chunked).
            await socket.SendAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"u8.ToArray());
            await socket.SendAsync(Chunk("{\"data\":["u8.ToArray()));
            var chunk = Chunk(System.Text.Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"spans\":[]},", 4096))));
            try
            {
                while (Interlocked.Read(ref written) < 8L * 1024 * 1024 * 1024)
                {
                    await socket.SendAsync(chunk);
                    Interlocked.Add(ref written, chunk.Length);
                }
            }
            catch (System.Net.Sockets.SocketException)
            {
                // The importer hung up.
            }
        });
        var url = $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}";
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        using var response = await host.Client.PostAsJsonAsync("admin/telemetry/jaeger", new { url, service = "gw" }, timeout.Token);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("over 1048576 bytes", (await Problem(response)).GetProperty("detail").GetString());
        await server.WaitAsync(TimeSpan.FromSeconds(30));
        // Reading everything (the old behaviour) would take all 8 GiB and the 30-s timeout; what the
        // server writes beyond the cap is what sockets and the client's drain-on-dispose absorb before
        // the connection closes (up to a few hundred MB on a loaded 2-core machine).
        Assert.True(Interlocked.Read(ref written) < 2L * 1024 * 1024 * 1024, $"{Interlocked.Read(ref written)} bytes were sent before the import stopped");
    }

    [Fact]
    public async Task AResponseDeclaringALengthOverTheCapIsRefusedBeforeItIsRead()
    {
        await using var host = await TelemetryHost.StartAsync("ti-jaeger-length", new Dictionary<string, string?>
        {
            ["RouteIQ:Telemetry:JaegerMaxResponseBytes"] = "2048",
        });
        await using var jaeger = await StartAsync(async context =>
        {
            context.Response.ContentLength = Recorded.Length;
            await context.Response.Body.WriteAsync(Recorded);
        });

        using var response = await host.Client.PostAsJsonAsync("admin/telemetry/jaeger", new { url = jaeger.Urls.First(), service = "gw" });

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("Jaeger answered HTTP 200 with a body over 2048 bytes", (await Problem(response)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AHostOutsideTheAllowListIsNeverCalled()
    {
        var calls = 0;
        await using var jaeger = await StartAsync(async context =>
        {
            Interlocked.Increment(ref calls);
            await context.Response.Body.WriteAsync(Recorded);
        });
        var port = new Uri(jaeger.Urls.First()).Port;
        await using var host = await TelemetryHost.StartAsync("ti-jaeger-allow", new Dictionary<string, string?>
        {
            ["RouteIQ:Telemetry:JaegerHosts:0"] = "jaeger.internal.example",
        });

        using var refused = await host.Client.PostAsJsonAsync("admin/telemetry/jaeger", new { url = jaeger.Urls.First(), service = "gw" });

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("url", (await Problem(refused)).GetProperty("field").GetString());
        Assert.Equal(0, Volatile.Read(ref calls));

        await using var allowing = await TelemetryHost.StartAsync("ti-jaeger-allow2", new Dictionary<string, string?>
        {
            ["RouteIQ:Telemetry:JaegerHosts:0"] = $"127.0.0.1:{port}",
        });
        using var allowed = await allowing.Client.PostAsJsonAsync("admin/telemetry/jaeger", new { url = jaeger.Urls.First(), service = "gw", start = 1780300000000000L, end = 1780400000000000L });
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task ARedirectToAnotherHostIsNotFollowed()
    {
        var elsewhere = 0;
        await using var other = await StartAsync(context =>
        {
            Interlocked.Increment(ref elsewhere);
            return context.Response.Body.WriteAsync(Recorded).AsTask();
        });
        await using var jaeger = await StartAsync(context =>
        {
            context.Response.Redirect(other.Urls.First() + "/api/traces" + context.Request.QueryString);
            return Task.CompletedTask;
        });
        await using var host = await TelemetryHost.StartAsync("ti-jaeger-redirect", new Dictionary<string, string?>
        {
            ["RouteIQ:Telemetry:JaegerHosts:0"] = $"127.0.0.1:{new Uri(jaeger.Urls.First()).Port}",
        });

        using var response = await host.Client.PostAsJsonAsync("admin/telemetry/jaeger", new { url = jaeger.Urls.First(), service = "gw" });

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("Jaeger answered HTTP 302", (await Problem(response)).GetProperty("detail").GetString());
        Assert.Equal(0, Volatile.Read(ref elsewhere));
    }

    [Fact]
    public async Task ErrorsReportOnlyTheStatusNeverConnectionDetails()
    {
        await using var host = await TelemetryHost.StartAsync("ti-jaeger-errors");
        var closedPort = TestInfra.FreePort();
        await using var notFound = await StartAsync(context =>
        {
            context.Response.StatusCode = 404;
            return Task.CompletedTask;
        });

        using var unreachable = await host.Client.PostAsJsonAsync("admin/telemetry/jaeger", new { url = $"http://127.0.0.1:{closedPort}", service = "gw" });
        using var missing = await host.Client.PostAsJsonAsync("admin/telemetry/jaeger", new { url = notFound.Urls.First() + "/secret-path", service = "gw" });

        Assert.Equal(HttpStatusCode.BadGateway, unreachable.StatusCode);
        var text = await unreachable.Content.ReadAsStringAsync();
        Assert.Equal("the Jaeger query service could not be reached", (await Problem(unreachable)).GetProperty("detail").GetString());
        Assert.DoesNotContain(closedPort.ToString(), text);
        Assert.DoesNotContain("refused", text, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.BadGateway, missing.StatusCode);
        Assert.Equal("Jaeger answered HTTP 404", (await Problem(missing)).GetProperty("detail").GetString());
        Assert.DoesNotContain("secret-path", await missing.Content.ReadAsStringAsync());
    }

    private static async Task<JsonElement> Problem(HttpResponseMessage response) => await response.Content.ReadFromJsonAsync<JsonElement>();

    /// <summary>One HTTP/1.1 chunk: its length in hex, the bytes, CRLF.</summary>
    private static byte[] Chunk(byte[] data)
        => [.. System.Text.Encoding.ASCII.GetBytes($"{data.Length:x}\r\n"), .. data, .. "\r\n"u8.ToArray()];

    private static async Task<WebApplication> StartAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.Run(handler);
        await app.StartAsync();
        return app;
    }
}
