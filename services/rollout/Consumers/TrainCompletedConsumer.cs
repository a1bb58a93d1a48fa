using MassTransit;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Registry;
using RouteIQ.Rollout.Rollouts;

namespace RouteIQ.Rollout.Consumers;

/// <summary>Registers the produced model version; rolls it out when the job asked for it.</summary>
public sealed class TrainCompletedConsumer(ModelRegistry registry, RolloutCoordinator coordinator, TimeProvider time, ILogger<TrainCompletedConsumer> logger)
    : IConsumer<TrainCompleted>
{
    public async Task Consume(ConsumeContext<TrainCompleted> context)
    {
        var message = context.Message;
        ModelVersion version;
        try
        {
            version = await registry.RegisterAsync(message, context.CancellationToken);
        }
        catch (RegistryException ex)
        {
            // Bad input is reported, never retried or left to poison the queue.
            logger.LogError("Job {JobId}: model version not registered ({Status}): {Problem}", message.JobId, ex.StatusCode, ex.Message);
            if (message.RollOnSuccess)
            {
                await context.Publish(new RollFailed
                {
                    JobId = message.JobId,
                    ModelName = message.ModelName,
                    Reason = $"registration failed: {ex.Message}",
                    StatusCode = ex.StatusCode,
                    TrainJobId = message.JobId,
                    FailedAt = time.GetUtcNow(),
                });
            }
            return;
        }

        // Also on a redelivery: gateway-admin applies it once and puts the version into the train response.
        await context.Publish(new ModelVersionRegistered
        {
            JobId = message.JobId,
            ModelName = version.ModelName,
            Version = version.Version,
            ModelUri = version.ModelUri ?? "",
            RunId = version.RunId,
            RegisteredAt = version.CreatedAt,
        });

        if (message.RollOnSuccess)
        {
            await coordinator.RollAsync(new RollRequested
            {
                JobId = message.JobId,
                ModelName = version.ModelName,
                Ref = version.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ServeImage = message.ServeImage,
                ServeCommand = message.ServeCommand,
                Promotion = message.Promotion,
                WaitReadySeconds = message.WaitReadySeconds,
                Alias = message.Alias,
                TrainJobId = message.JobId,
                RequestedAt = message.CompletedAt,
            }, context, context.CancellationToken);
        }
    }
}

public sealed class TrainCompletedConsumerDefinition : ConsumerDefinition<TrainCompletedConsumer>
{
    public TrainCompletedConsumerDefinition()
    {
        EndpointName = "rollout.train-completed";
        ConcurrentMessageLimit = 16;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<TrainCompletedConsumer> consumerConfigurator, IRegistrationContext context)
    {
        // Transient store or database trouble; registration is idempotent per job.
        endpointConfigurator.UseMessageRetry(r => r.Intervals(500, 2000, 5000));
    }
}
