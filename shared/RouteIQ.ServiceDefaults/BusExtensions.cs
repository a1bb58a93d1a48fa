using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// One bus per process, whatever services it hosts. Each service's <c>AddXxx()</c> contributes
/// its consumers with <see cref="AddRouteIQConsumers"/>; <see cref="AddRouteIQBus"/> then
/// builds the bus once, so the embedded mode composes all four services onto one in-memory
/// bus and the distributed mode puts each on RabbitMQ.
/// </summary>
public static class BusExtensions
{
    public static IHostApplicationBuilder AddRouteIQConsumers(this IHostApplicationBuilder builder,
        Action<IBusRegistrationConfigurator> configure)
    {
        GetRegistrations(builder.Services).Consumers.Add(configure);
        return builder;
    }

    /// <summary>Extra RabbitMQ-only configuration (e.g. a raw-JSON endpoint bound to a foreign exchange).</summary>
    public static IHostApplicationBuilder AddRouteIQRabbitMqConfiguration(this IHostApplicationBuilder builder,
        Action<IBusRegistrationContext, IRabbitMqBusFactoryConfigurator> configure)
    {
        GetRegistrations(builder.Services).RabbitMq.Add(configure);
        return builder;
    }

    public static IHostApplicationBuilder AddRouteIQBus(this IHostApplicationBuilder builder)
    {
        var settings = BusSettings.From(builder.Configuration);
        if (settings.RabbitMq is { } endpoint)
        {
            endpoint.EnsureReachable(BusSettings.ConnectionStringKey, TimeSpan.FromSeconds(5));
        }

        builder.Services.AddSingleton(settings);
        var registrations = GetRegistrations(builder.Services);

        builder.Services.AddMassTransit(x =>
        {
            // MassTransit would report usage to its vendor's server: nothing leaves this network.
            x.DisableUsageTelemetry();
            x.SetKebabCaseEndpointNameFormatter();
            foreach (var configure in registrations.Consumers)
            {
                configure(x);
            }

            if (settings.RabbitMq is { } rabbit)
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(rabbit.Host, (ushort)rabbit.Port, rabbit.VirtualHost, h =>
                    {
                        h.Username(rabbit.Username);
                        h.Password(rabbit.Password);
                        if (rabbit.UseTls)
                        {
                            h.UseSsl(s => s.ServerName = rabbit.Host);
                        }
                    });
                    foreach (var configure in registrations.RabbitMq)
                    {
                        configure(context, cfg);
                    }
                    cfg.ConfigureEndpoints(context);
                });
            }
            else
            {
                x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            }
        });

        builder.Services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromSeconds(30);
            o.StopTimeout = TimeSpan.FromSeconds(20);
        });
        return builder;
    }

    private static BusRegistrations GetRegistrations(IServiceCollection services)
    {
        var existing = services.FirstOrDefault(d => d.ServiceType == typeof(BusRegistrations))?.ImplementationInstance;
        if (existing is BusRegistrations registrations)
        {
            return registrations;
        }
        registrations = new BusRegistrations();
        services.AddSingleton(registrations);
        return registrations;
    }

    private sealed class BusRegistrations
    {
        public List<Action<IBusRegistrationConfigurator>> Consumers { get; } = [];
        public List<Action<IBusRegistrationContext, IRabbitMqBusFactoryConfigurator>> RabbitMq { get; } = [];
    }
}
