using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.Foundation.Tests;

/// <summary>
/// Without admin keys a non-loopback binding is refused before the server binds: in the old
/// window between binding and the check, requests were served (one got a 500).
/// </summary>
[Trait("Category", "Integration")]
public sealed class KeylessBindingGuardTests
{
    /// <summary>Runs once the host considers everything started: tries the port over loopback.</summary>
    private sealed class PortProbe(int port) : IHostedLifecycleService
    {
        public bool Connected { get; private set; }

        public async Task StartedAsync(CancellationToken cancellationToken)
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync("127.0.0.1", port, cancellationToken);
                Connected = true;
            }
            catch (SocketException)
            {
                Connected = false;
            }
        }

        public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static WebApplication Build(int port, Action<WebApplicationBuilder> bind, Dictionary<string, string?>? settings, out PortProbe probe)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["RouteIQ:DataDir"] = TestInfra.TempDirectory("guard") });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        builder.Logging.ClearProviders();
        var p = new PortProbe(port);
        probe = p;
        builder.Services.AddHostedService(_ => p); // registered first: its StartedAsync runs before any later check
        bind(builder);
        builder.AddServiceDefaults("guard-test");
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapGet("/", () => "served");
        return app;
    }

    public static TheoryData<string> NonLoopbackBindings => new() { "urls", "kestrel-endpoints", "listen-any-ip" };

    [Theory]
    [MemberData(nameof(NonLoopbackBindings))]
    public async Task A_keyless_non_loopback_binding_is_refused_and_never_accepts_a_connection(string how)
    {
        var port = TestInfra.FreePort();
        await using var app = Build(port, b =>
        {
            switch (how)
            {
                case "urls":
                    b.WebHost.UseUrls($"http://0.0.0.0:{port}");
                    break;
                case "kestrel-endpoints":
                    b.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Kestrel:Endpoints:Http:Url"] = $"http://0.0.0.0:{port}" });
                    break;
                default:
                    b.WebHost.ConfigureKestrel(k => k.ListenAnyIP(port));
                    break;
            }
        }, null, out var probe);

        var error = await Assert.ThrowsAsync<RouteIQConfigurationException>(() => app.StartAsync());

        Assert.Contains("RouteIQ:Admin:ApiKeys", error.Message);
        Assert.Contains("loopback", error.Message);
        Assert.False(probe.Connected, "the port accepted a connection before the binding was refused");
        using var client = new TcpClient();
        await Assert.ThrowsAnyAsync<SocketException>(() => client.ConnectAsync("127.0.0.1", port));
    }

    [Fact]
    public async Task Loopback_without_keys_and_any_address_with_keys_serve()
    {
        var port = TestInfra.FreePort();
        await using (var loopback = Build(port, b => b.WebHost.UseUrls($"http://127.0.0.1:{port}"), null, out _))
        {
            await loopback.StartAsync();
            using var http = new HttpClient();
            Assert.Equal("served", await http.GetStringAsync($"http://127.0.0.1:{port}/"));
            await loopback.StopAsync();
        }

        var keyed = TestInfra.FreePort();
        await using var withKeys = Build(keyed, b => b.WebHost.UseUrls($"http://0.0.0.0:{keyed}"),
            new Dictionary<string, string?> { ["RouteIQ:Admin:ApiKeys:0"] = "guard-test-key" }, out _);
        await withKeys.StartAsync();
        using var client = new HttpClient();
        Assert.Equal("served", await client.GetStringAsync($"http://127.0.0.1:{keyed}/"));
        await withKeys.StopAsync();
    }
}
