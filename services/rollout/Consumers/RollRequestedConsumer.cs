using MassTransit;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Rollouts;

namespace RouteIQ.Rollout.Consumers;

/// <summary>Rolls a version out, or back; the outcome is published as <see cref="ModelRolledOut"/> or <see cref="RollFailed"/>.</summary>
public sealed class RollRequestedConsumer(RolloutCoordinator coordinator) : IConsumer<RollRequested>
{
    public Task Consume(ConsumeContext<RollRequested> context)
        => coordinator.RollAsync(context.Message, context, context.CancellationToken);
}

public sealed class RollRequestedConsumerDefinition : ConsumerDefinition<RollRequestedConsumer>
{
    public RollRequestedConsumerDefinition()
    {
        EndpointName = "rollout.roll-requested";
        // Rolls of one model are serialized by the coordinator; different models roll in parallel.
        ConcurrentMessageLimit = 16;
    }
}
