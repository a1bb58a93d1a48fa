using System.Text.Json;
using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>The messages the outbox carries and where they go.</summary>
public static class OutboxMessages
{
    public const string CpuQueue = "queue:" + RunnerQueues.Cpu;
    public const string GpuQueue = "queue:" + RunnerQueues.Gpu;

    private static readonly Dictionary<string, Type> Types = new[]
    {
        typeof(TrainRequested), typeof(RollRequested), typeof(CancelTrain),
    }.ToDictionary(t => t.Name);

    public static OutboxMessage Send(TrainRequested message, DateTimeOffset now, string? serialized = null) => new()
    {
        JobId = message.JobId,
        MessageType = nameof(TrainRequested),
        Destination = message.Gpus == 0 ? CpuQueue : GpuQueue,
        Body = serialized ?? JsonSerializer.Serialize(message, LedgerJson.Messages),
        CreatedAt = now,
    };

    public static OutboxMessage Publish<T>(Guid jobId, T message, DateTimeOffset now) where T : class => new()
    {
        JobId = jobId,
        MessageType = typeof(T).Name,
        Body = JsonSerializer.Serialize(message, LedgerJson.Messages),
        CreatedAt = now,
    };

    public static (object Message, Type Type) Read(OutboxMessage row)
    {
        if (!Types.TryGetValue(row.MessageType, out var type))
        {
            throw new InvalidOperationException($"outbox row {row.Id} has unknown message type '{row.MessageType}'");
        }
        return (JsonSerializer.Deserialize(row.Body, type, LedgerJson.Messages)!, type);
    }
}
