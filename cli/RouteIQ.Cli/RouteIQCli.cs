using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.Cli;

public static class RouteIQCli
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "up")
        {
            return await UpAsync(args[1..]);
        }
        await Console.Error.WriteLineAsync("usage: routeiq up [--urls http://127.0.0.1:8080]");
        return 64;
    }

    private static Task<int> UpAsync(string[] args) => RouteIQHost.RunAsync(() =>
    {
        var app = EmbeddedHost.Build(args);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            var settings = app.Services.GetRequiredService<BusSettings>();
            var store = app.Services.GetRequiredService<RouteIQ.Artifacts.IArtifactStore>();
            Console.WriteLine($"routeiq up: admin API   {string.Join(", ", addresses)}");
            Console.WriteLine($"routeiq up: bus         {(settings.RabbitMq?.ToString() ?? "in-memory")}");
            Console.WriteLine($"routeiq up: artifacts   {store.Root}");
            Console.WriteLine($"routeiq up: health      {addresses.FirstOrDefault()}/health/ready");
        });
        return app;
    });
}
