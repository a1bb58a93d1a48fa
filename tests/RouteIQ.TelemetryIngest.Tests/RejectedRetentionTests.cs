using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RouteIQ.TelemetryIngest.Store;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>Issue 15 §4: a flood of bad input cannot grow the rejected-events table past its count and age caps.</summary>
[Trait("Category", "Integration")]
public sealed class RejectedRetentionTests
{
    [Fact]
    public async Task AFloodOfRejectedEventsIsCutToTheNewestRows()
    {
        await using var host = await TelemetryHost.StartAsync("ti-retention", new Dictionary<string, string?>
        {
            ["RouteIQ:Telemetry:RejectedMaxRows"] = "50",
            ["RouteIQ:Telemetry:RejectedPruneSeconds"] = "1",
        });
        var body = string.Join('\n', Enumerable.Range(0, 400).Select(i => $"{{\"flood\":{i}"));

        using var response = await host.Client.PostAsync("admin/telemetry/events", new StringContent(body));
        response.EnsureSuccessStatusCode();

        // The background pass applies the cap on its own.
        await TestInfra.WaitUntilAsync(async () => (await host.RejectedAsync()).Count == 50, TimeSpan.FromSeconds(30), "the table cut to 50 rows");
        var kept = await host.RejectedAsync();
        Assert.Contains("\"flood\":399", kept[^1].RawBody);
        Assert.Contains("\"flood\":350", kept[0].RawBody);
    }

    [Fact]
    public async Task RowsOlderThanTheAgeCapAreDeleted()
    {
        await using var host = await TelemetryHost.StartAsync("ti-retention-age", new Dictionary<string, string?>
        {
            ["RouteIQ:Telemetry:RejectedMaxAgeHours"] = "24",
            ["RouteIQ:Telemetry:RejectedPruneSeconds"] = "3600",
        });
        var now = DateTimeOffset.UtcNow;
        await using (var db = await host.DbAsync())
        {
            db.RejectedEvents.AddRange(
                new RejectedEventRow { ReceivedAtMs = now.AddHours(-25).ToUnixTimeMilliseconds(), Source = "http", Reason = "old", RawBody = "{}" },
                new RejectedEventRow { ReceivedAtMs = now.AddHours(-23).ToUnixTimeMilliseconds(), Source = "http", Reason = "recent", RawBody = "{}" });
            await db.SaveChangesAsync();
        }

        var deleted = await host.Services.GetRequiredService<RejectedRetention>().PruneAsync(CancellationToken.None);

        Assert.Equal(1, deleted);
        Assert.Equal("recent", Assert.Single(await host.RejectedAsync()).Reason);
    }

    [Theory]
    [InlineData("RejectedMaxRows", "0")]
    [InlineData("RejectedMaxAgeHours", "0")]
    [InlineData("RejectedPruneSeconds", "0")]
    public async Task CapsOutOfRangeFailAtStartNamingTheKey(string key, string value)
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => TelemetryHost.StartAsync("ti-retention-bad", new Dictionary<string, string?>
        {
            ["RouteIQ:Telemetry:" + key] = value,
        }));

        Assert.Contains(key, ex.Message);
    }
}
