using MassTransit;
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
/// Capacity policy, per queue: one message in flight (prefetch 1, one concurrent consume). The
/// consumer only reserves a slot and starts the workload, then acknowledges; the job runs in
/// the background. So a node holds at most one message per queue, and a full node holds it
/// only <c>SlotWaitSeconds</c> before sending it back to the queue's tail for a node with a free
/// slot — no job waits behind a busy node while another idles, and no message is held for the
/// hours a training run takes.
/// </summary>
public abstract class TrainRequestedDefinitionBase<TConsumer> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer<TrainRequested>
{
    protected TrainRequestedDefinitionBase(string queue)
    {
        EndpointName = queue;
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<TConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = 1;
        // Placement is by queue: gateway-admin SENDS to the cpu or gpu queue. Not binding the
        // queues to the TrainRequested exchange keeps a stray publish from reaching both.
        endpointConfigurator.ConfigureConsumeTopology = false;
        // Transient start failures (Docker socket, broker) are retried; the attempt is forgotten first.
        endpointConfigurator.UseMessageRetry(r => r.Intervals(500, 2000, 5000));
    }
}

public sealed class TrainRequestedConsumerDefinition() : TrainRequestedDefinitionBase<TrainRequestedConsumer>(RunnerQueues.Cpu);

public sealed class GpuTrainRequestedConsumerDefinition() : TrainRequestedDefinitionBase<GpuTrainRequestedConsumer>(RunnerQueues.Gpu);

/// <summary>
/// <c>CancelTrain</c> is published to every runner: each listens on its own temporary queue
/// (<c>trainer-runner.cancel.{node}-{instance}</c>), and only the node running the job acts.
/// </summary>
public sealed class CancelTrainConsumer(TrainJobs jobs) : IConsumer<CancelTrain>
{
    public Task Consume(ConsumeContext<CancelTrain> context) => jobs.CancelAsync(context.Message);
}
