using MassTransit;
using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>
/// In-process waiters of synchronous requests. Woken by <see cref="JobStateChanged"/> (every
/// replica consumes it on its own endpoint, so the replica holding the request wakes whichever
/// replica's ledger consumer made the change); the waiter then reads the job row once.
/// </summary>
public sealed class JobWaiters
{
    private readonly Dictionary<Guid, Entry> _entries = [];
    private readonly Lock _gate = new();

    private sealed class Entry
    {
        public TaskCompletionSource Signal { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Holders { get; set; }
    }

    /// <summary>A task that completes at the next change of <paramref name="jobId"/>. Take it before reading the row, so no change is missed; give it back with <see cref="Release"/>.</summary>
    public Task NextChange(Guid jobId)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(jobId, out var entry))
            {
                entry = new Entry();
                _entries[jobId] = entry;
            }
            entry.Holders++;
            return entry.Signal.Task;
        }
    }

    public void Release(Guid jobId, Task change)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(jobId, out var entry) && entry.Signal.Task == change && --entry.Holders == 0)
            {
                _entries.Remove(jobId);
            }
        }
    }

    public void Wake(Guid jobId)
    {
        Entry? entry;
        lock (_gate)
        {
            if (!_entries.Remove(jobId, out entry))
            {
                return;
            }
        }
        entry.Signal.TrySetResult();
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }
}

public sealed class JobStateChangedConsumer(JobWaiters waiters) : IConsumer<JobStateChanged>
{
    public Task Consume(ConsumeContext<JobStateChanged> context)
    {
        waiters.Wake(context.Message.JobId);
        return Task.CompletedTask;
    }
}

/// <summary>One temporary endpoint per replica: every replica sees every change.</summary>
public sealed class JobStateChangedConsumerDefinition(GatewayAdminInstance instance)
    : PerReplicaConsumerDefinition<JobStateChangedConsumer>("job-state", instance);

/// <summary>A consumer on its own temporary endpoint per replica (<c>gateway-admin.{name}.{replica}</c>): every replica gets every message.</summary>
public abstract class PerReplicaConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer
{
    protected PerReplicaConsumerDefinition(string name, GatewayAdminInstance instance)
    {
        var endpoint = $"gateway-admin.{name}.{instance.Id}";
        EndpointName = endpoint;
        Endpoint(e =>
        {
            e.Name = endpoint;
            e.Temporary = true;
        });
    }
}

/// <summary>This replica's identity (per host, not per process: tests run two replicas in one process).</summary>
public sealed class GatewayAdminInstance
{
    public string Id { get; } = Guid.NewGuid().ToString("N")[..12];
}
