using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>
/// Group commit of new jobs: concurrent requests' job and outbox rows are written in one
/// transaction (one WAL flush for many jobs instead of one each). Every caller still returns
/// only after its own rows are committed, so a 202 is never answered for a job that a crash
/// could lose.
/// </summary>
public sealed class JobWriter(IDbContextFactory<LedgerDbContext> contexts, ILogger<JobWriter> logger) : BackgroundService
{
    private const int MaxBatch = 256;

    /// <summary>Batches in flight at once: while one waits for its commit, the next fills.</summary>
    private const int Writers = 4;

    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>();

    private sealed record Pending(Job Job, OutboxMessage Outbox, TaskCompletionSource Done);

    /// <summary>Commits the job with its outbox row; completes once they are durable.</summary>
    public Task WriteAsync(Job job, OutboxMessage outbox)
    {
        var pending = new Pending(job, outbox, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
        {
            throw new InvalidOperationException("the job writer is stopped");
        }
        return pending.Done.Task;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(_ => Task.Run(() => WriteLoopAsync(stoppingToken), CancellationToken.None)));
        // Requests still queued at shutdown are written before the process goes.
        _queue.Writer.TryComplete();
        var rest = new List<Pending>();
        while (_queue.Reader.TryRead(out var item))
        {
            rest.Add(item);
        }
        if (rest.Count > 0)
        {
            await CommitAsync(rest);
        }
    }

    private async Task WriteLoopAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Pending>(MaxBatch);
        try
        {
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                batch.Clear();
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var item))
                {
                    batch.Add(item);
                }
                await CommitAsync(batch);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task CommitAsync(List<Pending> batch)
    {
        try
        {
            await SaveAsync(batch);
            foreach (var item in batch)
            {
                item.Done.TrySetResult();
            }
        }
        catch (Exception ex) when (batch.Count > 1)
        {
            // One bad row must not fail its neighbours: write them one by one.
            logger.LogDebug(ex, "Batch of {Count} jobs failed; writing them one by one", batch.Count);
            foreach (var item in batch)
            {
                try
                {
                    await SaveAsync([item]);
                    item.Done.TrySetResult();
                }
                catch (Exception single)
                {
                    item.Done.TrySetException(single);
                }
            }
        }
        catch (Exception ex)
        {
            batch[0].Done.TrySetException(ex);
        }
    }

    private async Task SaveAsync(List<Pending> batch)
    {
        await using var db = await contexts.CreateDbContextAsync();
        foreach (var item in batch)
        {
            db.Jobs.Add(item.Job);
            db.Outbox.Add(item.Outbox);
        }
        // One SaveChanges is one transaction: every job commits together with its outbox row.
        await db.SaveChangesAsync();
    }
}
