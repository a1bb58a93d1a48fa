using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Inputs;

/// <summary>
/// JSONL/NDJSON import (one contract event or legacy record per line, what
/// extract_jaeger_traces.py writes), streamed in batches; used by <c>routeiq ingest file</c>
/// and <c>POST /admin/telemetry/events</c>. Also reads a JSON array of events.
/// </summary>
public sealed class JsonlImporter(IngestService ingest, IOptions<TelemetryIngestOptions> options)
{
    /// <summary>Imports a JSONL file, reporting bytes read so far through <paramref name="progress"/>.</summary>
    public async Task<IngestReport> ImportFileAsync(string path, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        return await ImportAsync(stream, IngestSources.File, progress, cancellationToken);
    }

    /// <summary>As <see cref="ImportAsync(Stream, string, IProgress{long}?, CancellationToken)"/>, for the given contracts only.</summary>
    public Task<IngestReport> ImportAsync(Stream stream, string source, EventKinds kinds, CancellationToken cancellationToken = default)
        => ImportCoreAsync(stream, source, kinds, null, cancellationToken);

    /// <summary>Imports JSONL from a stream; blank lines are skipped, each other line is an event (indexes are 1-based line numbers).</summary>
    public Task<IngestReport> ImportAsync(Stream stream, string source, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
        => ImportCoreAsync(stream, source, EventKinds.Any, progress, cancellationToken);

    private async Task<IngestReport> ImportCoreAsync(Stream stream, string source, EventKinds kinds, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 1 << 16, leaveOpen: true));
        var accumulator = new Accumulator(ingest, source, options.Value.BatchSize, kinds);
        long line = 0;
        long consumedBytes = 0;
        var skippingOversized = false;
        while (true)
        {
            var read = await reader.ReadAsync(cancellationToken);
            var buffer = read.Buffer;
            while (TryReadLine(ref buffer, out var lineBytes))
            {
                consumedBytes += lineBytes.Length + 1;
                if (skippingOversized)
                {
                    // The rest of a line already rejected as oversized.
                    skippingOversized = false;
                    continue;
                }
                line++;
                await accumulator.AddLineAsync(lineBytes, line, cancellationToken);
            }
            if (!skippingOversized && buffer.Length > DecisionParser.MaxEventBytes + 2)
            {
                // A line over the limit: reject it by its first bytes and skip to its end.
                line++;
                accumulator.RejectOversized(buffer.Slice(0, 4096), line);
                skippingOversized = true;
            }
            if (skippingOversized)
            {
                consumedBytes += buffer.Length;
                buffer = buffer.Slice(buffer.End);
            }
            if (read.IsCompleted)
            {
                if (buffer.Length > 0 && !skippingOversized)
                {
                    line++;
                    consumedBytes += buffer.Length;
                    await accumulator.AddLineAsync(buffer, line, cancellationToken);
                    buffer = buffer.Slice(buffer.End);
                }
                reader.AdvanceTo(buffer.End);
                break;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            progress?.Report(consumedBytes);
        }
        await reader.CompleteAsync();
        await accumulator.FlushAsync(cancellationToken);
        progress?.Report(consumedBytes);
        return accumulator.Report();
    }

    /// <summary>
    /// A JSON array of event objects (<c>POST /admin/telemetry/events</c> with a JSON body). Indexes
    /// are 0-based. A malformed array is stored as one rejected event and throws <see cref="FormatException"/>.
    /// </summary>
    public async Task<IngestReport> ImportArrayAsync(ReadOnlyMemory<byte> json, string source, CancellationToken cancellationToken = default,
        EventKinds kinds = EventKinds.Any)
    {
        var accumulator = new Accumulator(ingest, source, options.Value.BatchSize, kinds);
        var elements = new List<(int Start, int End)>();
        string? malformed = null;
        try
        {
            var reader = new Utf8JsonReader(json.Span);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            {
                throw new JsonException("expected a JSON array");
            }
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                elements.Add((start, (int)reader.BytesConsumed));
            }
            if (reader.TokenType != JsonTokenType.EndArray)
            {
                throw new JsonException("the array is not closed");
            }
        }
        catch (JsonException ex)
        {
            malformed = $"body: malformed JSON array ({ex.Message.Split(" Path:")[0]})";
        }
        if (malformed is not null)
        {
            // The array is one JSON document: damaged, it is rejected whole (kept with its bytes), as
            // an undecodable OTLP request is, and the caller answers 400.
            accumulator.Reject(malformed, 0, json.Span);
            await accumulator.FlushAsync(cancellationToken);
            throw new FormatException(malformed);
        }
        for (var i = 0; i < elements.Count; i++)
        {
            await accumulator.AddLineAsync(new ReadOnlySequence<byte>(json[elements[i].Start..elements[i].End]), i, cancellationToken);
        }
        await accumulator.FlushAsync(cancellationToken);
        return accumulator.Report();
    }

    private static bool TryReadLine(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> line)
    {
        var position = buffer.PositionOf((byte)'\n');
        if (position is null)
        {
            line = default;
            return false;
        }
        line = buffer.Slice(0, position.Value);
        buffer = buffer.Slice(buffer.GetPosition(1, position.Value));
        return true;
    }

    private sealed class Accumulator(IngestService ingest, string source, int batchSize, EventKinds kinds)
    {
        private readonly IngestBatch _batch = new(source);
        private WriteResult _total;

        public async Task AddLineAsync(ReadOnlySequence<byte> bytes, long index, CancellationToken cancellationToken)
        {
            var span = bytes.IsSingleSegment ? bytes.FirstSpan : bytes.ToArray();
            span = Trim(span);
            if (span.IsEmpty)
            {
                return;
            }
            var result = ingest.Parse(span, new DecisionContext(source), kinds);
            var raw = result.IsAccepted ? null : RawBody.From(span);
            _batch.Add(result, index, () => raw!);
            if (_batch.Count >= batchSize)
            {
                await FlushAsync(cancellationToken);
            }
        }

        public void Reject(string reason, long index, ReadOnlySpan<byte> raw)
            => _batch.Reject(reason, index, RawBody.From(raw), countAsReceived: true);

        public void RejectOversized(ReadOnlySequence<byte> head, long index)
            => _batch.Reject("line over the 1 MiB limit", index, RawBody.From(head.ToArray()) + "…", countAsReceived: true);

        public async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (_batch.Count == 0)
            {
                return;
            }
            _total += await ingest.WriteAsync(_batch, cancellationToken);
            _batch.Clear();
        }

        public IngestReport Report() => new()
        {
            Received = _batch.Received,
            Stored = _total.Inserted + _total.FeedbackInserted,
            Duplicates = _total.Duplicates + _total.FeedbackDuplicates,
            Rejected = _total.Rejected,
            FeedbackStored = _total.FeedbackInserted,
            FeedbackDuplicates = _total.FeedbackDuplicates,
            Rejections = _batch.Rejections,
        };

        private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> span)
        {
            while (!span.IsEmpty && (span[^1] is (byte)'\r' or (byte)' ' or (byte)'\t'))
            {
                span = span[..^1];
            }
            while (!span.IsEmpty && (span[0] is (byte)' ' or (byte)'\t' or 0xEF or 0xBB or 0xBF))
            {
                span = span[1..];
            }
            return span;
        }
    }
}
