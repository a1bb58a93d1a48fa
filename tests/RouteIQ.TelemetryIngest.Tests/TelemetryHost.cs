using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>telemetry-ingest composed as its Program.cs does, on a free loopback port, with test settings.</summary>
public sealed class TelemetryHost : IAsyncDisposable
{
    private TelemetryHost(WebApplication app, Uri baseUri, string dataDir)
    {
        App = app;
        BaseUri = baseUri;
        DataDir = dataDir;
        Client = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(60) };
    }

    public WebApplication App { get; }
    public Uri BaseUri { get; }
    public string DataDir { get; }
    public HttpClient Client { get; }
    public IServiceProvider Services => App.Services;

    public static async Task<TelemetryHost> StartAsync(string prefix, IDictionary<string, string?>? settings = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        var dataDir = TestInfra.TempDirectory(prefix);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        // Port 0: Kestrel picks a free port as it binds (a port probed free beforehand can be taken by then).
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RouteIQ:DataDir"] = dataDir,
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:RouteIQ"] = "Information",
        });
        if (settings is not null)
        {
            builder.Configuration.AddInMemoryCollection(settings);
        }
        builder.AddServiceDefaults("telemetry-ingest");
        configure?.Invoke(builder);
        builder.AddTelemetryIngest();
        builder.AddRouteIQBus();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        app.MapTelemetryIngestApi();
        await app.StartAsync();
        return new TelemetryHost(app, new Uri(app.Urls.First().TrimEnd('/') + "/"), dataDir);
    }

    public async Task<TelemetryDbContext> DbAsync()
        => await Services.GetRequiredService<IDbContextFactory<TelemetryDbContext>>().CreateDbContextAsync();

    public async Task<int> CountDecisionsAsync(long fromMs, long toMs)
    {
        await using var db = await DbAsync();
        return await db.Decisions.CountAsync(d => d.TimestampMs >= fromMs && d.TimestampMs < toMs);
    }

    public async Task<List<RejectedEventRow>> RejectedAsync()
    {
        await using var db = await DbAsync();
        return await db.RejectedEvents.OrderBy(r => r.Id).ToListAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
