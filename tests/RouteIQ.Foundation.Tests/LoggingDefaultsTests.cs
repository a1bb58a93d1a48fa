using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.Foundation.Tests;

/// <summary>Framework per-request logs are off by default, the service's own are on, and users can turn either back.</summary>
public sealed class LoggingDefaultsTests
{
    private static WebApplication Build(Dictionary<string, string?> settings)
    {
        settings["RouteIQ:DataDir"] = TestInfra.TempDirectory("logging");
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddServiceDefaults("logging-test");
        return builder.Build();
    }

    [Fact]
    public async Task Per_request_framework_lines_default_to_warning()
    {
        await using var app = Build([]);
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
        Assert.False(loggers.CreateLogger("Microsoft.EntityFrameworkCore.Database.Command").IsEnabled(LogLevel.Information));
        Assert.True(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Warning));
        Assert.True(loggers.CreateLogger("RouteIQ.GatewayAdmin.Ledger.JobLedger").IsEnabled(LogLevel.Information));
    }

    [Fact]
    public async Task A_configured_level_wins_over_the_default()
    {
        await using var app = Build(new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore"] = "Information" });
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        Assert.True(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
    }
}
