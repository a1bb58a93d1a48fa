using MassTransit;
using Microsoft.EntityFrameworkCore;
using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>
/// Sends what the outbox holds: woken by <see cref="OutboxSignal"/> when a row is written,
/// and every second in case a wake was lost (another replica's row, a restart). On PostgreSQL
/// the rows are claimed with <c>FOR UPDATE SKIP LOCKED</c>, so replicas never send one row
/// twice; a row is deleted in the transaction that claimed it, after its send was confirmed.
/// A crash between send and commit re-sends it; the runner deduplicates on job and attempt.
/// Our own outbox, not MassTransit's: its EF Core outbox (<c>MassTransit.EntityFrameworkCore</c>) is
/// not available from the package feeds this project builds from, and a job needs only this much.
/// </summary>
public sealed class OutboxDispatcher(
    IDbContextFactory<LedgerDbContext> contexts,
    OutboxSignal signal,
    IBus bus,
    TimeProvider time,
    ILogger<OutboxDispatcher> logger) : BackgroundService
{
    private const int BatchSize = 200;
    private const string ClaimSql = "SELECT * FROM \"" + LedgerDbContext.Schema + "\".\"outbox\" ORDER BY \"Id\" LIMIT 200 FOR UPDATE SKIP LOCKED";
    private static readonly TimeSpan ScanInterval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var sent = await DispatchBatchAsync(stoppingToken);
                failures = 0;
                if (sent < BatchSize)
                {
                    await signal.WaitAsync(ScanInterval, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                failures++;
                logger.LogWarning(ex, "Outbox dispatch failed ({Failures} in a row); retrying", failures);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 200 * failures)), stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    public async Task<int> DispatchBatchAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var strategy = db.Database.CreateExecutionStrategy();
        return await strategy.ExecuteAsync(async () =>
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            List<OutboxMessage> rows;
            if (db.Database.IsNpgsql())
            {
                rows = await db.Outbox
                    .FromSqlRaw(ClaimSql)
                    .AsNoTracking()
                    .ToListAsync(cancellationToken);
            }
            else
            {
                rows = await db.Outbox.AsNoTracking().OrderBy(o => o.Id).Take(BatchSize).ToListAsync(cancellationToken);
            }
            if (rows.Count == 0)
            {
                return 0;
            }

            var sends = new List<Task>(rows.Count);
            foreach (var row in rows)
            {
                sends.Add(SendAsync(row, cancellationToken));
            }
            await Task.WhenAll(sends);

            // One statement for the whole batch, no change tracking: the rows are still locked by
            // this transaction, so nobody else can have sent or removed them meanwhile.
            var ids = rows.Select(r => r.Id).ToList();
            await db.Outbox.Where(o => ids.Contains(o.Id)).ExecuteDeleteAsync(cancellationToken);
            // A roll (or rollback) job runs from the moment rollout has its request: "running · rolling", not "queued"
            // until its outcome (a train job becomes running when its runner says so, and is past queued when it rolls).
            var rolls = rows.Where(r => r.MessageType == nameof(RollRequested)).Select(r => r.JobId).ToList();
            if (rolls.Count > 0)
            {
                var now = time.GetUtcNow();
                await db.Jobs.Where(j => rolls.Contains(j.Id) && j.State == JobStates.Queued)
                    .ExecuteUpdateAsync(j => j.SetProperty(x => x.State, JobStates.Running).SetProperty(x => x.StartedAt, now), cancellationToken);
            }
            await transaction.CommitAsync(cancellationToken);
            return rows.Count;
        });
    }

    private async Task SendAsync(OutboxMessage row, CancellationToken cancellationToken)
    {
        var (message, type) = OutboxMessages.Read(row);
        if (row.Destination is { } destination)
        {
            var endpoint = await bus.GetSendEndpoint(new Uri(destination));
            await endpoint.Send(message, type, cancellationToken);
        }
        else
        {
            await bus.Publish(message, type, cancellationToken);
        }
        logger.LogDebug("Outbox row {OutboxId}: {MessageType} for job {JobId} sent", row.Id, row.MessageType, row.JobId);
    }
}
