using RouteIQ.Testing;

namespace RouteIQ.TrainerRunner.Tests.Runner;

/// <summary>A fresh RabbitMQ vhost and a probe bus on it, for one test class.</summary>
public sealed class VhostFixture : IAsyncLifetime
{
    public string RabbitUri { get; private set; } = "";
    public BusProbe Probe { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        RabbitUri = await TestInfra.CreateVirtualHostAsync("runner");
        Probe = await BusProbe.StartAsync(RabbitUri);
    }

    public async Task DisposeAsync() => await Probe.DisposeAsync();
}
