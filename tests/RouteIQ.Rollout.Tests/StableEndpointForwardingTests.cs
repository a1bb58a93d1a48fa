using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RouteIQ.Rollout.Edge;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>
/// What the stable endpoint hands the model server: bodies small and large, declared and chunked,
/// arrive whole with their headers; a client that breaks off mid-body reaches no server and
/// harms no later request. The server here echoes what it received.
/// </summary>
[Trait("Category", "Integration")]
public sealed class StableEndpointForwardingTests : IAsyncLifetime
{
    private readonly StableRoutes _routes = new();
    private WebApplication? _upstream;
    private StableEndpointServer? _endpoint;
    private Uri _endpointUrl = null!;
    private int _upstreamRequests;
    private readonly HttpClient _client = new(new SocketsHttpHandler { UseProxy = false });
    private readonly HostingEvents _events = new();
    private ILoggerFactory? _loggerFactory;

    public async Task InitializeAsync()
    {
        var upstreamPort = TestInfra.FreePort();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, upstreamPort));
        _upstream = builder.Build();
        _upstream.Run(async context =>
        {
            Interlocked.Increment(ref _upstreamRequests);
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            var body = buffer.ToArray();
            var echo = string.Join('\n',
                $"path={context.Request.Path}{context.Request.QueryString}",
                $"method={context.Request.Method}",
                $"content-type={context.Request.ContentType}",
                $"content-length={context.Request.Headers.ContentLength?.ToString() ?? "-"}",
                $"transfer-encoding={context.Request.Headers.TransferEncoding}",
                $"x-custom={context.Request.Headers["X-Custom"]}",
                $"bytes={body.Length}",
                $"sha256={Convert.ToHexString(SHA256.HashData(body))}");
            context.Response.ContentType = "text/plain";
            await context.Response.WriteAsync(echo);
        });
        await _upstream.StartAsync();
        _routes.Replace([new ServerRoute("m", 1, $"http://127.0.0.1:{upstreamPort}")], "m");

        _endpointUrl = new Uri($"http://127.0.0.1:{TestInfra.FreePort()}");
        // The endpoint's own Kestrel logs through this factory: the test sees when it starts and finishes a request.
        _loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information).AddProvider(_events));
        _endpoint = new StableEndpointServer(_routes, _endpointUrl, 16L * 1024 * 1024, _loggerFactory);
        await _endpoint.StartAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        if (_endpoint is not null)
        {
            await _endpoint.DisposeAsync();
        }
        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }
        _loggerFactory?.Dispose();
    }

    /// <summary>Counts the endpoint's ASP.NET Core hosting events "Request starting" (1) and "Request finished" (2).</summary>
    private sealed class HostingEvents : ILoggerProvider, ILogger
    {
        public const int RequestStarting = 1;
        public const int RequestFinished = 2;
        private const string Category = "Microsoft.AspNetCore.Hosting.Diagnostics";
        private readonly ConcurrentDictionary<int, int> _counts = new();

        public int Count(int eventId) => _counts.GetValueOrDefault(eventId);

        public ILogger CreateLogger(string categoryName) => categoryName == Category ? this : NullLogger.Instance;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => _counts.AddOrUpdate(eventId.Id, 1, (_, n) => n + 1);

        public bool IsEnabled(LogLevel logLevel) => true;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public void Dispose()
        {
        }
    }

    private async Task<Dictionary<string, string>> PostAsync(HttpContent content, string path = "/m/invocations?x=1")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_endpointUrl, path)) { Content = content };
        request.Headers.Add("X-Custom", "kept");
        using var response = await _client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return text.Split('\n').Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
    }

    private static byte[] Bytes(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 31 + 7)).ToArray();

    [Theory]
    [InlineData(1)]
    [InlineData(300)]
    [InlineData(StableEndpointServer.OneWriteRequestHandler.BufferedBodyLimit)]
    [InlineData(StableEndpointServer.OneWriteRequestHandler.BufferedBodyLimit + 1)]
    [InlineData(3 * 1024 * 1024)]
    public async Task A_declared_body_of_any_size_arrives_whole_with_its_headers(int length)
    {
        var body = Bytes(length);
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };

        var echo = await PostAsync(content);

        Assert.Equal("/invocations?x=1", echo["path"]);
        Assert.Equal("POST", echo["method"]);
        Assert.Equal("application/json; charset=utf-8", echo["content-type"]);
        Assert.Equal(length.ToString(), echo["content-length"]);
        Assert.Equal("", echo["transfer-encoding"]);
        Assert.Equal("kept", echo["x-custom"]);
        Assert.Equal(length.ToString(), echo["bytes"]);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), echo["sha256"]);
    }

    [Fact]
    public async Task A_chunked_body_streams_through_whole()
    {
        var body = Bytes(200_000);
        // No length known in advance: HttpClient sends it chunked.
        var content = new StreamContent(new NonSeekableStream(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");

        var echo = await PostAsync(content);

        Assert.Equal("-", echo["content-length"]);
        Assert.Equal("chunked", echo["transfer-encoding"]);
        Assert.Equal("200000", echo["bytes"]);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(body)), echo["sha256"]);
    }

    [Fact]
    public async Task A_client_that_breaks_off_mid_body_reaches_no_server_and_later_requests_succeed()
    {
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, _endpointUrl.Port);
            var head = $"POST /m/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"query\":";
            await socket.SendAsync(Encoding.ASCII.GetBytes(head));
            // Broken off only once the endpoint is handling the request (it has the head, waits for the body).
            await TestInfra.WaitUntilAsync(() => Task.FromResult(_events.Count(HostingEvents.RequestStarting) == 1), TimeSpan.FromSeconds(10), "the endpoint to start the request");
            socket.Close();
        }
        // The endpoint is done with the broken request: whatever it was going to forward, it has.
        await TestInfra.WaitUntilAsync(() => Task.FromResult(_events.Count(HostingEvents.RequestFinished) == 1), TimeSpan.FromSeconds(10), "the endpoint to finish the broken request");

        // The half body never became a complete request upstream (it would have been a
        // request with a body shorter than its declared length).
        Assert.Equal(0, Volatile.Read(ref _upstreamRequests));
        var echo = await PostAsync(new StringContent("{\"query\":\"next\"}", Encoding.UTF8, "application/json"));
        Assert.Equal("16", echo["bytes"]);
        Assert.Equal(1, Volatile.Read(ref _upstreamRequests));
    }

    [Fact]
    public async Task Small_declared_bodies_go_to_the_connection_as_bytes_and_others_are_left_streaming()
    {
        var seen = new List<(HttpContent? Content, string? Text)>();
        using var invoker = new HttpMessageInvoker(new StableEndpointServer.OneWriteRequestHandler(new CapturingHandler(seen)));

        async Task SendAsync(HttpContent? content, bool expectContinue = false)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:1/invocations") { Content = content };
            if (expectContinue)
            {
                request.Headers.ExpectContinue = true;
            }
            using var _ = await invoker.SendAsync(request, CancellationToken.None);
        }

        var small = new StreamContent(new NonSeekableStream("{\"query\":\"q\"}"u8.ToArray()));
        small.Headers.ContentLength = 13;
        small.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        await SendAsync(small);
        var large = new StreamContent(new NonSeekableStream(Bytes(100_000)));
        large.Headers.ContentLength = 100_000;
        await SendAsync(large);
        var unknown = new StreamContent(new NonSeekableStream(Bytes(10)));
        await SendAsync(unknown);
        var continued = new StreamContent(new NonSeekableStream(Bytes(10)));
        continued.Headers.ContentLength = 10;
        await SendAsync(continued, expectContinue: true);
        await SendAsync(null);
        var shortBody = new StreamContent(new NonSeekableStream(Bytes(5)));
        shortBody.Headers.ContentLength = 10;
        await Assert.ThrowsAsync<IOException>(() => SendAsync(shortBody));
        var longBody = new StreamContent(new NonSeekableStream(Bytes(20)));
        longBody.Headers.ContentLength = 10;
        await Assert.ThrowsAsync<NotSupportedException>(() => SendAsync(longBody));

        Assert.Equal(5, seen.Count);
        Assert.IsType<ByteArrayContent>(seen[0].Content);
        Assert.Equal("{\"query\":\"q\"}|13|application/json", seen[0].Text);
        Assert.Same(large, seen[1].Content);
        Assert.Same(unknown, seen[2].Content);
        Assert.Same(continued, seen[3].Content);
        Assert.Null(seen[4].Content);
    }

    private sealed class CapturingHandler(List<(HttpContent? Content, string? Text)> seen) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            // Only buffered content is read here: reading a stream would consume it.
            var text = request.Content is ByteArrayContent bytes
                ? $"{await bytes.ReadAsStringAsync(cancellationToken)}|{bytes.Headers.ContentLength}|{bytes.Headers.ContentType?.MediaType}"
                : null;
            seen.Add((request.Content, text));
            return new HttpResponseMessage(HttpStatusCode.OK);
        }
    }

    /// <summary>A stream with no length, so HttpClient cannot learn the size up front.</summary>
    private sealed class NonSeekableStream(byte[] data) : Stream
    {
        private readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 7000));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
