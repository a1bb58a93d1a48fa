using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace RouteIQ.Rollout.Edge;

/// <summary>
/// The request path of a route with a <see cref="TrafficSplit"/>. A routing request is
/// idempotent, so a candidate that answers 5xx, resets the connection or times out is counted
/// against the candidate and the request is sent once more to the baseline: a failing canary
/// costs clients latency, not errors. Bodies up to 64 KiB (every invocation; declared, or chunked
/// and found that small) are read once and replayed from memory; longer ones stream once, without
/// a retry. The one-write forwarding of <see cref="StableEndpointServer"/> stays.
/// In shadow mode the baseline answers and a copy goes to the candidate through the split's own
/// bounded queue (dropped and counted when full; never waited on), off the response path. A split
/// the route table no longer holds stops its senders and discards its queued copies, so a slow
/// candidate neither gets copies after its shadow phase nor delays another model's shadow.
/// </summary>
internal sealed class SplitForwarder : IAsyncDisposable
{
    public const string VersionHeader = "X-RouteIQ-Model-Version";
    private const int ShadowQueue = 1024;

    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _client;
    private readonly ForwarderRequestConfig _baselineConfig;
    private readonly ILogger _logger;
    private readonly Dictionary<int, ForwarderRequestConfig> _candidateConfigs = [];
    private readonly Lock _configLock = new();
    private const int ShadowSenders = 2;
    private readonly Dictionary<TrafficSplit, ShadowLane> _lanes = new(ReferenceEqualityComparer.Instance);
    private readonly CancellationTokenSource _stop = new();

    public SplitForwarder(IHttpForwarder forwarder, HttpMessageInvoker client, ForwarderRequestConfig baselineConfig, ILogger logger)
    {
        _forwarder = forwarder;
        _client = client;
        _baselineConfig = baselineConfig;
        _logger = logger;
    }

    private sealed record ShadowCopy(string Path, byte[] Body, string? ContentType, byte[]? BaselineAnswer);

    /// <summary>One shadow split's queue and senders; closed when the split is retired.</summary>
    private sealed class ShadowLane
    {
        // Wait mode: TryWrite answers false on a full queue (the Drop modes answer true and drop silently).
        public Channel<ShadowCopy> Queue { get; } = Channel.CreateBounded<ShadowCopy>(new BoundedChannelOptions(ShadowQueue)
        {
            FullMode = BoundedChannelFullMode.Wait, SingleReader = false, SingleWriter = false,
        });

        public required CancellationTokenSource Stop { get; init; }
        public Task[] Senders { get; set; } = [];
    }

    /// <summary>The split's lane, started on its first copy.</summary>
    private ShadowLane Lane(TrafficSplit split)
    {
        lock (_configLock)
        {
            if (_lanes.TryGetValue(split, out var lane))
            {
                return lane;
            }
            lane = new ShadowLane { Stop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token) };
            lane.Senders = Enumerable.Range(0, ShadowSenders).Select(_ => Task.Run(() => ShadowLoopAsync(split, lane))).ToArray();
            _lanes[split] = lane;
            split.WhenRetired(() => CloseLane(split));
            return lane;
        }
    }

    private void CloseLane(TrafficSplit split)
    {
        ShadowLane? lane;
        lock (_configLock)
        {
            if (!_lanes.Remove(split, out lane))
            {
                return;
            }
        }
        lane.Queue.Writer.TryComplete();
        lane.Stop.Cancel();
        _ = Task.WhenAll(lane.Senders).ContinueWith(_ => lane.Stop.Dispose(), TaskScheduler.Default);
    }

    private ForwarderRequestConfig CandidateConfig(int timeoutMs)
    {
        lock (_configLock)
        {
            if (!_candidateConfigs.TryGetValue(timeoutMs, out var config))
            {
                config = _baselineConfig with { ActivityTimeout = TimeSpan.FromMilliseconds(Math.Max(1, timeoutMs)) };
                _candidateConfigs[timeoutMs] = config;
            }
            return config;
        }
    }

    public async Task HandleAsync(HttpContext context, ServerRoute route, TrafficSplit split, string action, HttpTransformer transformer)
    {
        var request = context.Request;
        var toCandidate = split.ChooseCandidate(Utf8Keys.Sticky(request, split.StickyHeader));
        // Replayable when the body is at most 64 KiB: declared (every invocation) or chunked and found that small.
        byte[]? body = null;
        if ((toCandidate || split.Shadow) && request.Headers.Expect.Count == 0)
        {
            if (request.ContentLength is { } length and <= BodyLimit)
            {
                body = await ReadBodyAsync(request, (int)length, context.RequestAborted);
            }
            else if (request.ContentLength is null && context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true)
            {
                body = await ReadUndeclaredBodyAsync(request, context.RequestAborted);
            }
        }

        if (toCandidate)
        {
            var attempt = new CandidateTransformer(((StableEndpointServer.PathTransformer)transformer).ServerPath, canRetry: body is not null);
            if (body is not null)
            {
                request.Body = new MemoryStream(body, writable: false);
            }
            context.Response.Headers[VersionHeader] = split.CandidateVersionText;
            var start = Stopwatch.GetTimestamp();
            var error = await _forwarder.SendAsync(context, split.CandidateUrl, _client, CandidateConfig(split.CandidateTimeoutMs), attempt);
            var failed = attempt.Failed || (error != ForwarderError.None && error != ForwarderError.RequestCanceled);
            split.Candidate.Record(start, failed);
            if (!failed || context.RequestAborted.IsCancellationRequested)
            {
                return;
            }
            if (body is null || context.Response.HasStarted)
            {
                // Bodies over 64 KiB stream once: the candidate's answer (or YARP's 502) stands.
                _logger.LogWarning("Candidate v{Version} of {Model} failed ({Error}) and the request cannot be replayed (its body is over 64 KiB)",
                    split.CandidateVersion, route.Model, error);
                return;
            }
            // Retry once on the baseline, within the client's own deadline (its connection).
            split.Candidate.RecordRetry();
            context.Response.Clear();
            request.Body = new MemoryStream(body, writable: false);
        }
        else if (body is not null)
        {
            request.Body = new MemoryStream(body, writable: false);
        }

        context.Response.Headers[VersionHeader] = route.VersionText;
        var capture = split.Shadow && body is not null ? new CaptureStream(context.Response.Body) : null;
        if (capture is not null)
        {
            context.Response.Body = capture;
        }
        var baselineStart = Stopwatch.GetTimestamp();
        var baselineError = await _forwarder.SendAsync(context, route.ServerUrl, _client, _baselineConfig, transformer);
        split.Baseline.Record(baselineStart, baselineError is not ForwarderError.None and not ForwarderError.RequestCanceled || context.Response.StatusCode >= 500);
        if (capture is not null && body is not null && !split.Retired
            && !Lane(split).Queue.Writer.TryWrite(new ShadowCopy("/" + action, body, request.ContentType, capture.Captured)))
        {
            split.ShadowResults.RecordDropped();
        }
    }

    private const int BodyLimit = StableEndpointServer.OneWriteRequestHandler.BufferedBodyLimit;

    private static async Task<byte[]> ReadBodyAsync(HttpRequest request, int length, CancellationToken cancellationToken)
    {
        var body = new byte[length];
        await request.Body.ReadExactlyAsync(body, cancellationToken);
        return body;
    }

    /// <summary>
    /// A body of undeclared length (chunked): read up to 64 KiB + 1 byte. At most 64 KiB: the
    /// whole body, replayable. Longer: null, and the request's body becomes the bytes read followed
    /// by the rest of the stream, forwarded once as today.
    /// </summary>
    private static async Task<byte[]?> ReadUndeclaredBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var buffer = new byte[BodyLimit + 1];
        var read = 0;
        while (read < buffer.Length && await request.Body.ReadAsync(buffer.AsMemory(read), cancellationToken) is var n and > 0)
        {
            read += n;
        }
        if (read <= BodyLimit)
        {
            return buffer[..read];
        }
        request.Body = new PrefixedStream(buffer, request.Body);
        return null;
    }

    private async Task ShadowLoopAsync(TrafficSplit split, ShadowLane lane)
    {
        try
        {
            await foreach (var copy in lane.Queue.Reader.ReadAllAsync(lane.Stop.Token))
            {
                await SendShadowAsync(split, copy, lane.Stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task SendShadowAsync(TrafficSplit split, ShadowCopy copy, CancellationToken stop)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, split.CandidateUrl + copy.Path)
            {
                Version = HttpVersion.Version11,
                Content = new ByteArrayContent(copy.Body),
            };
            if (copy.ContentType is not null)
            {
                message.Content.Headers.TryAddWithoutValidation("Content-Type", copy.ContentType);
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
            timeout.CancelAfter(split.CandidateTimeoutMs);
            using var response = await _client.SendAsync(message, timeout.Token);
            var answer = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            var failed = (int)response.StatusCode >= 500;
            split.Candidate.Record(start, failed);
            if (!failed)
            {
                var (candidateChoice, price) = Choice(answer);
                var (baselineChoice, _) = copy.BaselineAnswer is null ? (null, null) : Choice(copy.BaselineAnswer);
                split.ShadowResults.Record(candidateChoice is not null && candidateChoice == baselineChoice, price);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            if (stop.IsCancellationRequested)
            {
                // The split was retired (or the endpoint stops): not the candidate's failure.
                return;
            }
            split.Candidate.Record(start, failed: true);
        }
    }

    /// <summary>The chosen model(s) and the average price of a router answer (<c>{model, price}</c> or <c>{results: [...]}</c>).</summary>
    internal static (string? Choice, double? Price) Choice(byte[] answer)
    {
        try
        {
            using var json = JsonDocument.Parse(answer);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, null);
            }
            if (root.TryGetProperty("results", out var results) && results.ValueKind == JsonValueKind.Array)
            {
                var models = new List<string>();
                double sum = 0;
                var priced = 0;
                foreach (var r in results.EnumerateArray())
                {
                    var (m, p) = One(r);
                    models.Add(m ?? "");
                    if (p is { } v)
                    {
                        sum += v;
                        priced++;
                    }
                }
                return (string.Join('\n', models), priced == 0 ? null : sum / priced);
            }
            return One(root);
        }
        catch (JsonException)
        {
            return (null, null);
        }

        static (string?, double?) One(JsonElement e) => (
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty("model", out var m) ? m.ToString() : null,
            e.ValueKind == JsonValueKind.Object && e.TryGetProperty("price", out var p) && p.ValueKind == JsonValueKind.Number ? p.GetDouble() : null);
    }

    public async ValueTask DisposeAsync()
    {
        ShadowLane[] lanes;
        lock (_configLock)
        {
            lanes = [.. _lanes.Values];
            _lanes.Clear();
        }
        await _stop.CancelAsync();
        foreach (var lane in lanes)
        {
            lane.Queue.Writer.TryComplete();
        }
        await Task.WhenAll(lanes.SelectMany(l => l.Senders));
        _stop.Dispose();
    }

    /// <summary>
    /// Refuses to pass a candidate's 5xx on when the request can be replayed (the caller retries on
    /// the baseline); anything else is proxied as usual. A 5xx counts as a failure either way.
    /// </summary>
    private sealed class CandidateTransformer(string serverPath, bool canRetry) : HttpTransformer
    {
        public bool Failed { get; private set; }

        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, serverPath, httpContext.Request.QueryString);
        }

        public override ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
        {
            if (proxyResponse is not null && (int)proxyResponse.StatusCode >= 500)
            {
                Failed = true;
                if (canRetry)
                {
                    return ValueTask.FromResult(false);
                }
            }
            return base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        }
    }

    /// <summary>A read-only stream: <paramref name="prefix"/>, then the rest of <paramref name="rest"/>.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream rest) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Prefix(buffer);
            return n > 0 ? n : rest.Read(buffer);
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = Prefix(buffer.Span);
            return n > 0 ? ValueTask.FromResult(n) : rest.ReadAsync(buffer, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Prefix(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, prefix.Length - _position);
            prefix.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Passes the baseline's answer through and keeps its first 64 KiB for the shadow comparison.</summary>
    private sealed class CaptureStream(Stream inner) : Stream
    {
        private readonly MemoryStream _captured = new();

        public byte[] Captured => _captured.ToArray();

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Keep(buffer.AsSpan(offset, count));
            inner.Write(buffer, offset, count);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Keep(buffer.Span);
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private void Keep(ReadOnlySpan<byte> bytes)
        {
            var room = BodyLimit - (int)_captured.Length;
            if (room > 0)
            {
                _captured.Write(bytes[..Math.Min(room, bytes.Length)]);
            }
        }
    }
}
