using RouteIQ.Contracts;
using RouteIQ.GatewayAdmin.Api;
using RouteIQ.GatewayAdmin.Ledger;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// Live job output in gateway-admin: chunks from runners are joined by offset (redelivered, repeated and reordered-late
/// chunks add nothing; a gap or a new attempt starts over), the window is bounded, and a follower writes each character
/// once — across the switch from heartbeat tails to live output and at the end, against the stored log.
/// </summary>
public sealed class LiveJobLogTests
{
    private static readonly Guid Job = Guid.NewGuid();

    private static TrainLogAppended Chunk(long offset, string text, int attempt = 1) => new()
    {
        JobId = Job, Attempt = attempt, Node = "n1", Offset = offset, Text = text, Timestamp = DateTimeOffset.UnixEpoch,
    };

    [Fact]
    public void Redelivered_and_overlapping_chunks_add_nothing_twice()
    {
        var streams = new JobLogStreams();
        streams.Append(Chunk(0, "a\nb\n"));
        streams.Append(Chunk(0, "a\nb\n"));
        streams.Append(Chunk(2, "b\nc\n"));
        streams.Append(Chunk(4, "c\n"));
        Assert.Equal(new JobLogStreams.Read(1, "a\nb\nc\n", 6), streams.ReadFrom(Job, 1, null));
        Assert.Equal(new JobLogStreams.Read(1, "c\n", 6), streams.ReadFrom(Job, 1, 4));
    }

    [Fact]
    public void A_gap_or_a_new_attempt_starts_over_and_an_old_attempt_is_ignored()
    {
        var streams = new JobLogStreams();
        streams.Append(Chunk(0, "one\n"));
        streams.Append(Chunk(100, "far\n"));
        Assert.Equal(new JobLogStreams.Read(1, "far\n", 104), streams.ReadFrom(Job, 1, 4));
        streams.Append(Chunk(0, "retry\n", attempt: 2));
        streams.Append(Chunk(104, "late\n", attempt: 1));
        Assert.Equal(new JobLogStreams.Read(2, "retry\n", 6), streams.ReadFrom(Job, 1, 104));
    }

    [Fact]
    public void The_window_and_the_number_of_jobs_are_bounded()
    {
        var streams = new JobLogStreams();
        var big = new string('x', JobLogStreams.WindowChars);
        streams.Append(Chunk(0, "head\n"));
        streams.Append(Chunk(5, big));
        var read = streams.ReadFrom(Job, 1, 0)!.Value;
        Assert.Equal(JobLogStreams.WindowChars, read.Text.Length);
        Assert.Equal(5 + JobLogStreams.WindowChars, read.Next);

        for (var i = 0; i < JobLogStreams.MaxJobs + 10; i++)
        {
            streams.Append(Chunk(0, "x") with { JobId = Guid.NewGuid() });
        }
        Assert.Equal(JobLogStreams.MaxJobs, streams.Count);
    }

    [Fact]
    public async Task New_output_wakes_a_waiting_follower()
    {
        var streams = new JobLogStreams();
        var next = streams.NextOutput(Job);
        Assert.False(next.IsCompleted);
        streams.Append(Chunk(0, "line\n"));
        await next.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void A_follower_writes_every_character_once_from_tails_to_live_output_to_the_stored_log()
    {
        var follower = new AdminEndpoints.LogFollower();
        // Before any live output: the heartbeat tail.
        Assert.Equal("epoch 1\nepoch 2\n", follower.Next(null, "epoch 1\nepoch 2\n"));
        Assert.Equal("", follower.Next(null, "epoch 1\nepoch 2\n"));
        // The first live read overlaps what the tail showed.
        Assert.Equal("epoch 3\n", follower.Next(new JobLogStreams.Read(1, "epoch 1\nepoch 2\nepoch 3\n", 24), "epoch 1\nepoch 2\n"));
        // Then by offset.
        Assert.Equal("epoch 4\n", follower.Next(new JobLogStreams.Read(1, "epoch 4\n", 32), null));
        // The stored log: only what follows the offset.
        Assert.Equal("epoch 5\ndone\n", follower.Rest("epoch 1\nepoch 2\nepoch 3\nepoch 4\nepoch 5\ndone\n"));
    }

    [Fact]
    public void A_follower_of_a_long_log_gets_only_the_rest_of_a_truncated_stored_log()
    {
        var follower = new AdminEndpoints.LogFollower();
        var lines = Enumerable.Range(1, 500).Select(i => $"step {i}\n").ToArray();
        // Only tails were seen (no live output), the last one ending at step 400.
        follower.Next(null, string.Concat(lines[300..400]));
        var stored = TrainLogAppended.TruncatedMarker + string.Concat(lines[100..]);
        Assert.Equal(string.Concat(lines[400..]), follower.Rest(stored));
    }

    [Fact]
    public void Randomized_chunking_and_redelivery_rebuild_the_output_exactly()
    {
        for (var seed = 0; seed < 50; seed++)
        {
            var random = new Random(seed);
            var text = string.Concat(Enumerable.Range(0, 200).Select(i => $"line {i} {new string('.', random.Next(0, 40))}\n"));
            var chunks = new List<TrainLogAppended>();
            for (var at = 0; at < text.Length;)
            {
                var length = Math.Min(text.Length - at, random.Next(1, 300));
                chunks.Add(Chunk(at, text.Substring(at, length)));
                at += length;
            }
            var streams = new JobLogStreams();
            var follower = new AdminEndpoints.LogFollower();
            var shown = new System.Text.StringBuilder();
            foreach (var chunk in chunks)
            {
                streams.Append(chunk);
                if (random.Next(3) == 0)
                {
                    // Redelivery of an earlier chunk.
                    streams.Append(chunks[random.Next(chunks.IndexOf(chunk) + 1)]);
                }
                if (random.Next(2) == 0)
                {
                    shown.Append(follower.Next(streams.ReadFrom(Job, follower.Attempt, follower.Offset), null));
                }
            }
            shown.Append(follower.Rest(text));
            Assert.Equal(text, shown.ToString());
        }
    }
}
