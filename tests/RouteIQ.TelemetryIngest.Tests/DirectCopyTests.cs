using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Testing;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>
/// The PostgreSQL writer COPYs a batch of distinct ids straight into <c>decisions</c> and falls
/// back to the staging table + <c>ON CONFLICT DO NOTHING</c> when an id is already stored: the
/// stored set and the counts it reports must be the same either way, and a batch that fell back
/// must not leave half of itself (or its rejected events twice) behind.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DirectCopyTests
{
    private static RouterDecision Decision(string id, long ts = 1) => new() { EventId = id, TimestampMs = ts, OutcomeStatus = "success" };

    private static List<RouterDecision> Batch(string prefix, int from, int count)
        => Enumerable.Range(from, count).Select(i => Decision($"{prefix}-{i:D5}", i)).ToList();

    private static async Task<(TelemetryHost Host, PostgresDecisionWriter Writer)> StartAsync(string name, bool directCopy = true)
    {
        var host = await TelemetryHost.StartAsync("ti-direct-" + name, new Dictionary<string, string?>
        {
            ["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("ti_direct"),
            ["RouteIQ:Telemetry:DirectCopy"] = directCopy ? "true" : "false",
        });
        return (host, Assert.IsType<PostgresDecisionWriter>(host.Services.GetRequiredService<IDecisionWriter>()));
    }

    private static async Task<List<string>> StoredIdsAsync(TelemetryHost host)
    {
        await using var db = await host.DbAsync();
        return await db.Decisions.OrderBy(d => d.EventId).Select(d => d.EventId).ToListAsync();
    }

    [Fact]
    public async Task A_batch_of_new_distinct_ids_is_copied_straight_in()
    {
        var (host, writer) = await StartAsync("new");
        await using var _ = host;

        var result = await writer.WriteAsync(Batch("a", 0, 500), [], CancellationToken.None);

        Assert.Equal(new WriteResult(500, 0, 0), result);
        Assert.Equal((1L, 0L), (writer.DirectBatches, writer.StagedBatches));
        Assert.Equal(Batch("a", 0, 500).Select(d => d.EventId), await StoredIdsAsync(host));
    }

    [Fact]
    public async Task A_batch_meeting_a_stored_id_rolls_back_and_is_written_once_through_staging()
    {
        var (host, writer) = await StartAsync("conflict");
        await using var _ = host;
        await writer.WriteAsync(Batch("b", 0, 100), [], CancellationToken.None);

        // Ids 50..149: the stored one sits in the middle, so the direct COPY has already inserted
        // rows when the key refuses one; all of them must be rolled back with it.
        var rejected = new RejectedEvent("bus", "outcome.status: unknown value 'maybe'", "{\"bad\":1}", "bad-1");
        var result = await writer.WriteAsync(Batch("b", 50, 100), [rejected], CancellationToken.None);

        Assert.Equal(new WriteResult(50, 50, 1), result);
        Assert.Equal((1L, 1L), (writer.DirectBatches, writer.StagedBatches));
        Assert.Equal(Batch("b", 0, 150).Select(d => d.EventId), await StoredIdsAsync(host));
        var stored = Assert.Single(await host.RejectedAsync());
        Assert.Equal("bad-1", stored.EventId);
    }

    [Fact]
    public async Task After_a_conflict_the_next_batches_go_through_staging_then_direct_again()
    {
        var (host, writer) = await StartAsync("policy");
        await using var _ = host;
        await writer.WriteAsync(Batch("c", 0, 10), [], CancellationToken.None);
        await writer.WriteAsync(Batch("c", 5, 10), [], CancellationToken.None); // conflict: one rolled-back try, then staged
        Assert.Equal((1L, 1L), (writer.DirectBatches, writer.StagedBatches));

        // A redelivered batch (all stored) while staging keeps the staging window open.
        Assert.Equal(new WriteResult(0, 10, 0), await writer.WriteAsync(Batch("c", 0, 10), [], CancellationToken.None));
        for (var i = 0; i < PostgresDecisionWriter.StagedBatchesAfterConflict; i++)
        {
            var result = await writer.WriteAsync(Batch("c", 100 + i * 10, 10), [], CancellationToken.None);
            Assert.Equal(new WriteResult(10, 0, 0), result);
        }
        Assert.Equal((1L, 2L + PostgresDecisionWriter.StagedBatchesAfterConflict), (writer.DirectBatches, writer.StagedBatches));

        // Enough clean batches: straight in again.
        await writer.WriteAsync(Batch("c", 1000, 10), [], CancellationToken.None);
        Assert.Equal(2L, writer.DirectBatches);
        Assert.Equal(15 + PostgresDecisionWriter.StagedBatchesAfterConflict * 10 + 10, (await StoredIdsAsync(host)).Count);
    }

    [Fact]
    public async Task Duplicates_inside_one_batch_go_through_staging_without_a_failed_try()
    {
        var (host, writer) = await StartAsync("inbatch");
        await using var _ = host;
        var batch = Batch("d", 0, 20);
        batch.Add(Decision("d-00003", 99));

        var result = await writer.WriteAsync(batch, [], CancellationToken.None);

        Assert.Equal(new WriteResult(20, 1, 0), result);
        Assert.Equal((0L, 1L), (writer.DirectBatches, writer.StagedBatches));
        Assert.Equal(20, (await StoredIdsAsync(host)).Count);
    }

    [Fact]
    public async Task Concurrent_writers_with_overlapping_ids_store_each_id_once()
    {
        var (host, writer) = await StartAsync("race");
        await using var _ = host;

        // Four writers, each a window of 300 ids overlapping its neighbours' by 200: the key
        // decides who stores an id, and the counts add up to exactly the distinct ids.
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var total = default(WriteResult);
            for (var b = 0; b < 3; b++)
            {
                total += await writer.WriteAsync(Batch("e", w * 100 + b * 100, 100), [], CancellationToken.None);
            }
            return total;
        })));

        var sum = results.Aggregate(default(WriteResult), (a, r) => a + r);
        Assert.Equal(600, sum.Inserted);
        Assert.Equal(1200 - 600, sum.Duplicates);
        Assert.Equal(Batch("e", 0, 600).Select(d => d.EventId), await StoredIdsAsync(host));
    }

    [Fact]
    public async Task With_direct_copy_off_every_batch_goes_through_staging()
    {
        var (host, writer) = await StartAsync("off", directCopy: false);
        await using var _ = host;

        Assert.Equal(new WriteResult(30, 0, 0), await writer.WriteAsync(Batch("f", 0, 30), [], CancellationToken.None));
        Assert.Equal(new WriteResult(10, 20, 0), await writer.WriteAsync(Batch("f", 10, 30), [], CancellationToken.None));

        Assert.Equal((0L, 2L), (writer.DirectBatches, writer.StagedBatches));
        Assert.Equal(40, (await StoredIdsAsync(host)).Count);
    }
}
