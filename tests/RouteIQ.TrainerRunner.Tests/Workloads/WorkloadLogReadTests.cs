using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner.Tests.Workloads;

/// <summary>Reading a workload's output by offset: contiguous chunks, bounded size, and a reader that fell behind the bounded log skips ahead to what is kept.</summary>
public sealed class WorkloadLogReadTests
{
    [Fact]
    public void Chunks_read_by_offset_are_contiguous_and_bounded()
    {
        var log = new WorkloadLog(1000);
        log.Append("abcdef");
        Assert.Equal(new LogChunk(0, "abc"), log.ReadFrom(0, 3));
        Assert.Equal(new LogChunk(3, "def"), log.ReadFrom(3, 100));
        Assert.Equal(new LogChunk(6, ""), log.ReadFrom(6, 100));
        log.Append("gh");
        Assert.Equal(new LogChunk(6, "gh"), log.ReadFrom(6, 100));
        Assert.Equal(8, log.ReadFrom(6, 100).Next);
    }

    [Fact]
    public void A_reader_behind_the_dropped_output_resumes_at_the_oldest_kept()
    {
        var log = new WorkloadLog(100);
        var text = string.Concat(Enumerable.Range(0, 50).Select(i => $"{i:D3}\n"));
        log.Append(text);
        var chunk = log.ReadFrom(0, 1000);
        Assert.True(chunk.Offset > 0);
        Assert.Equal(text[(int)chunk.Offset..], chunk.Text);
        Assert.Equal(text.Length, chunk.Next);
    }
}
