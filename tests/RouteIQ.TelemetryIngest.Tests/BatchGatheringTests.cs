using RouteIQ.TelemetryIngest.Inputs;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>
/// How long the RabbitMQ input's batch loop sleeps while a batch fills: about the time the missing
/// deliveries take at the rate just seen, never under 2 ms, never past the flush deadline.
/// </summary>
public sealed class BatchGatheringTests
{
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void The_wait_is_the_time_the_missing_deliveries_take_at_the_rate_seen()
        // 100 deliveries in 10 ms; 300 more take 30 ms.
        => Assert.Equal(Ms(30), RabbitMqDecisionConsumer.NextWait(Ms(10), gathered: 100, missing: 300, left: Ms(45)));

    [Fact]
    public void The_wait_never_passes_the_flush_deadline()
        => Assert.Equal(Ms(12), RabbitMqDecisionConsumer.NextWait(Ms(10), gathered: 10, missing: 1_000, left: Ms(12)));

    [Fact]
    public void With_nothing_arriving_the_batch_waits_for_its_deadline()
        => Assert.Equal(Ms(40), RabbitMqDecisionConsumer.NextWait(Ms(2), gathered: 0, missing: 1_999, left: Ms(40)));

    [Fact]
    public void A_fast_stream_still_waits_the_shortest_interval()
        => Assert.Equal(Ms(2), RabbitMqDecisionConsumer.NextWait(Ms(0.01), gathered: 500, missing: 10, left: Ms(40)));

    [Fact]
    public void Less_than_the_shortest_interval_left_waits_only_what_is_left()
        => Assert.Equal(Ms(1), RabbitMqDecisionConsumer.NextWait(Ms(0.01), gathered: 500, missing: 10, left: Ms(1)));
}
