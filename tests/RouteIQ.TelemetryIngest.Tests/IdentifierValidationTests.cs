using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace RouteIQ.TelemetryIngest.Tests;

[Trait("Category", "Integration")]
public sealed class IdentifierValidationFixture : IAsyncLifetime
{
    public TelemetryHost Host { get; private set; } = null!;

    public async Task InitializeAsync() => Host = await TelemetryHost.StartAsync("ti-ids");

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

/// <summary>Issue 15 §5 at the dataset endpoints: the shared identifier rules, 400 naming the field (a trailing newline used to pass <c>$</c>).</summary>
[Trait("Category", "Integration")]
public sealed class IdentifierValidationTests(IdentifierValidationFixture fixture) : IClassFixture<IdentifierValidationFixture>
{
    private TelemetryHost Host => fixture.Host;

    [Theory]
    [InlineData("abc\n")]
    [InlineData("../../../etc")]
    [InlineData("%2e%2e")]
    [InlineData("a/b")]
    [InlineData("a..b")]
    public async Task AHostileDatasetIdIs400NamingTheField(string id)
    {
        using var response = await Host.Client.PostAsJsonAsync("admin/datasets", new { dataset_id = id });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("dataset_id", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("field").GetString());
    }

    [Theory]
    [InlineData("a%2e%2eb")]
    [InlineData("%2e%2e%2fetc")]
    [InlineData("abc%0A")]
    public async Task AHostileDatasetIdInThePathIs400(string id)
    {
        using var response = await Host.Client.GetAsync("admin/datasets/" + id);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("id", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("field").GetString());
    }
}
