using MassTransit;
using Microsoft.Extensions.Options;
using RouteIQ.Contracts;

namespace RouteIQ.TrainerRunner;

/// <summary>Takes <c>TrainRequested</c> from <c>trainer-runner.cpu</c> (every runner).</summary>
public sealed class TrainRequestedConsumer(TrainJobs jobs) : IConsumer<TrainRequested>
{
    public Task Consume(ConsumeContext<TrainRequested> context) => jobs.AcceptAsync(context);
}

/// <summary>Takes <c>TrainRequested</c> from <c>trainer-runner.gpu</c> (only runners with GPUs).</summary>
public sealed class GpuTrainRequestedConsumer(TrainJobs jobs) : IConsumer<TrainRequested>
{
    public Task Consume(ConsumeContext<TrainRequested> context) => jobs.AcceptAsync(context);
}

/// <summary>
/// Capacity policy, per queue: at most <c>Slots</c> messages in flight (prefetch and concurrent
/// consumes both = Slots), so a node with free slots starts several workloads at once (a
/// container start costs a few hundred milliseconds; one at a time would cap short jobs well
/// below the slots). The consumer only reserves a slot and starts the workload, then
/// acknowledges; the job runs in the background, so no message is held for the hours a training
/// run takes. A full node holds a message at most <c>SlotWaitSeconds</c> waiting for a slot,
/// then sends it back to the queue for a node with room — no job waits long behind a busy node
/// while another idles. The slot reservation, not the broker, enforces the limit.
/// </summary>
public abstract class TrainRequestedDefinitionBase<TConsumer> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer<TrainRequested>
{
    private readonly int _slots;

    protected TrainRequestedDefinitionBase(string queue, IOptions<RunnerOptions> options)
    {
        _slots = options.Value.Slots;
        EndpointName = queue;
        ConcurrentMessageLimit = _slots;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<TConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = _slots;
        // Placement is by queue: gateway-admin SENDS to the cpu or gpu queue. Not binding the
        // queues to the TrainRequested exchange keeps a stray publish from reaching both.
        endpointConfigurator.ConfigureConsumeTopology = false;
        // Transient start failures (Docker socket, broker) are retried; the attempt is forgotten first.
        endpointConfigurator.UseMessageRetry(r => r.Intervals(500, 2000, 5000));
    }
}

public sealed class TrainRequestedConsumerDefinition(IOptions<RunnerOptions> options)
    : TrainRequestedDefinitionBase<TrainRequestedConsumer>(RunnerQueues.Cpu, options);

public sealed class GpuTrainRequestedConsumerDefinition(IOptions<RunnerOptions> options)
    : TrainRequestedDefinitionBase<GpuTrainRequestedConsumer>(RunnerQueues.Gpu, options);

/// <summary>
/// <c>CancelTrain</c> is published to every runner: each listens on its own temporary queue
/// (<c>trainer-runner.cancel.{node}-{instance}</c>), and only the node running the job acts.
/// </summary>
public sealed class CancelTrainConsumer(TrainJobs jobs) : IConsumer<CancelTrain>
{
    public Task Consume(ConsumeContext<CancelTrain> context) => jobs.CancelAsync(context.Message);
}
