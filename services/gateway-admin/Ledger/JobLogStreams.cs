using System.Text;
using MassTransit;
using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>
/// The live output of running jobs, as runners publish it (<see cref="TrainLogAppended"/>): per job the latest attempt's
/// last <see cref="WindowChars"/> characters, in memory only (the whole log is stored when the job ends). Every replica
/// keeps its own, fed through its own temporary endpoint, so whichever replica holds a follower has the lines.
/// </summary>
public sealed class JobLogStreams
{
    public const int WindowChars = 64 * 1024;
    public const int MaxJobs = 256;

    private readonly Dictionary<Guid, Stream> _streams = [];
    private readonly Lock _gate = new();
    private long _clock;

    private sealed class Stream
    {
        public int Attempt { get; set; }
        public long Start { get; set; }
        public StringBuilder Text { get; } = new();
        public TaskCompletionSource Changed { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public long Touched { get; set; }
        public long End => Start + Text.Length;
    }

    /// <summary>What <see cref="Read"/> returns: <paramref name="Text"/> of <paramref name="Attempt"/> up to offset <paramref name="Next"/>.</summary>
    public readonly record struct Read(int Attempt, string Text, long Next);

    /// <summary>Adds a chunk. Repeated and redelivered chunks add nothing; a later attempt replaces an earlier one's output.</summary>
    public void Append(TrainLogAppended chunk)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            var stream = Get(chunk.JobId);
            if (chunk.Attempt < stream.Attempt)
            {
                return;
            }
            if (chunk.Attempt > stream.Attempt || chunk.Offset > stream.End)
            {
                // A new attempt, or output this replica never saw (it started late, or chunks were lost): start over there.
                stream.Attempt = chunk.Attempt;
                stream.Text.Clear();
                stream.Start = chunk.Offset;
            }
            var skip = stream.End - chunk.Offset;
            if (skip >= chunk.Text.Length)
            {
                return;
            }
            stream.Text.Append(chunk.Text, (int)skip, chunk.Text.Length - (int)skip);
            if (stream.Text.Length > WindowChars)
            {
                var drop = stream.Text.Length - WindowChars;
                stream.Text.Remove(0, drop);
                stream.Start += drop;
            }
            changed = stream.Changed;
            stream.Changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>
    /// The output after <paramref name="from"/> of <paramref name="attempt"/>; all that is kept when the attempt
    /// differs or the offset is gone (<paramref name="from"/> null = all that is kept). Null when nothing was streamed.
    /// </summary>
    public Read? ReadFrom(Guid jobId, int attempt, long? from)
    {
        lock (_gate)
        {
            if (!_streams.TryGetValue(jobId, out var stream) || stream.Attempt == 0)
            {
                return null;
            }
            stream.Touched = ++_clock;
            var start = from is { } f && attempt == stream.Attempt ? Math.Clamp(f, stream.Start, stream.End) : stream.Start;
            return new Read(stream.Attempt, stream.Text.ToString((int)(start - stream.Start), (int)(stream.End - start)), stream.End);
        }
    }

    /// <summary>A task that completes when <paramref name="jobId"/> gets new output.</summary>
    public Task NextOutput(Guid jobId)
    {
        lock (_gate)
        {
            return Get(jobId).Changed.Task;
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _streams.Count;
            }
        }
    }

    private Stream Get(Guid jobId)
    {
        if (!_streams.TryGetValue(jobId, out var stream))
        {
            if (_streams.Count >= MaxJobs)
            {
                // Bounded: the stream nobody read or wrote for longest goes (its followers fall back to heartbeat tails).
                var oldest = _streams.MinBy(s => s.Value.Touched);
                _streams.Remove(oldest.Key);
                oldest.Value.Changed.TrySetResult();
            }
            stream = new Stream();
            _streams[jobId] = stream;
        }
        stream.Touched = ++_clock;
        return stream;
    }
}

public sealed class TrainLogAppendedConsumer(JobLogStreams streams) : IConsumer<TrainLogAppended>
{
    public Task Consume(ConsumeContext<TrainLogAppended> context)
    {
        streams.Append(context.Message);
        return Task.CompletedTask;
    }
}

/// <summary>One temporary endpoint per replica: every replica sees every chunk.</summary>
public sealed class TrainLogAppendedConsumerDefinition(GatewayAdminInstance instance)
    : PerReplicaConsumerDefinition<TrainLogAppendedConsumer>("job-logs", instance);
