using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.Foundation.Tests;

public sealed record FoundationPing(Guid Id, string Text);

public sealed record FoundationPong(Guid Id, string Text, string Transport);

[Trait("Category", "Integration")]
public sealed class FoundationPingConsumer(BusSettings settings) : IConsumer<FoundationPing>
{
    public Task Consume(ConsumeContext<FoundationPing> context)
        => context.RespondAsync(new FoundationPong(context.Message.Id, context.Message.Text.ToUpperInvariant(), settings.Transport.ToString()));
}

[Trait("Category", "Integration")]
public sealed class FoundationPingConsumerDefinition : ConsumerDefinition<FoundationPingConsumer>
{
    public FoundationPingConsumerDefinition() => EndpointName = "foundation-tests.ping";
}

[Trait("Category", "Integration")]
public sealed class BusRoundTripTests
{
    [Theory]
    [InlineData("InMemory")]
    [InlineData("RabbitMq")]
    public async Task RequestAndResponseRoundTrip(string transport)
    {
        var settings = new Dictionary<string, string?>
        {
            ["RouteIQ:DataDir"] = TestInfra.TempDirectory("bus"),
            ["RouteIQ:Bus:Transport"] = transport,
        };
        if (transport == "RabbitMq")
        {
            settings["ConnectionStrings:RabbitMq"] = await TestInfra.CreateVirtualHostAsync("bus");
        }
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults("bus-test");
        builder.AddRouteIQConsumers(x => x.AddConsumer<FoundationPingConsumer, FoundationPingConsumerDefinition>());
        builder.AddRouteIQBus();
        await using var app = builder.Build();
        await app.StartAsync();

        var client = app.Services.GetRequiredService<IRequestClient<FoundationPing>>();
        var id = Guid.NewGuid();
        var response = await client.GetResponse<FoundationPong>(new FoundationPing(id, "hello"), timeout: RequestTimeout.After(s: 30));

        Assert.Equal(id, response.Message.Id);
        Assert.Equal("HELLO", response.Message.Text);
        Assert.Equal(transport, response.Message.Transport);
        await app.StopAsync();
    }

    [Fact]
    public void RabbitMqIsTheDefaultWhenItsConnectionStringIsSet()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = "amqp://user:p%40ss@broker.example:5673/vh",
        }).Build();
        var settings = BusSettings.From(config);
        Assert.Equal(BusTransport.RabbitMq, settings.Transport);
        Assert.Equal(("broker.example", 5673, "vh", "user", "p@ss"),
            (settings.RabbitMq!.Host, settings.RabbitMq.Port, settings.RabbitMq.VirtualHost, settings.RabbitMq.Username, settings.RabbitMq.Password));
        Assert.DoesNotContain("p@ss", settings.RabbitMq.ToString());
        Assert.Equal(BusTransport.InMemory, BusSettings.From(new ConfigurationBuilder().Build()).Transport);
    }
}
