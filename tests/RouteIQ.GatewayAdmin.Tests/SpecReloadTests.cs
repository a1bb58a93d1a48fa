using System.Text.Json.Nodes;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>A spec file broken while the server runs: reported with file and line, the previous trainers keep working.</summary>
[Trait("Category", "Integration")]
public sealed class SpecReloadTests : IAsyncLifetime
{
    private readonly FakeCluster _cluster = new();
    private AdminTestHost _host = null!;
    private string _specs = null!;

    public async Task InitializeAsync()
    {
        _specs = TestInfra.TempDirectory("admin-reload");
        await File.WriteAllTextAsync(Path.Combine(_specs, "a.yaml"), "alpha:\n  trainer_image: img/alpha\n  env: {FAKE: ok}\n");
        _host = await AdminTestHost.StartAsync(await TestInfra.CreateVirtualHostAsync("admin-reload"),
            await TestInfra.CreateDatabaseAsync("admin_reload"), _specs, configure: b => FakeCluster.AddTo(b, _cluster));
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task A_syntax_error_is_reported_with_file_and_line_and_the_last_good_trainers_stay()
    {
        var file = Path.Combine(_specs, "a.yaml");
        await File.WriteAllTextAsync(file, "alpha:\n  trainer_image: img/alpha2\n  env: {FAKE: ok\nbeta:\n  trainer_image: x\n");

        JsonObject trainers = [];
        await TestInfra.WaitUntilAsync(async () =>
        {
            trainers = (await _host.GetAsync("/admin/trainers")).Body;
            return trainers["errors"]?.AsArray().Count > 0;
        }, TimeSpan.FromSeconds(20), "the spec error to be reported");

        var error = trainers["errors"]!.AsArray()[0]!;
        Assert.Equal(file, (string?)error["file"]);
        Assert.InRange((int)error["line"]!, 3, 5);
        Assert.StartsWith($"{file}:", (string?)error["message"]);
        Assert.Equal("img/alpha", (string?)trainers["trainers"]!["alpha"]!["trainer_image"]);

        var (status, body, _) = await _host.PostAsync("/admin/train/alpha", new { });
        Assert.Equal(200, status);
        Assert.Equal("alpha", (string?)body["trainer"]);

        // Check details (spec paths) are for an admin: the host's client sends its key.
        using var ready = await _host.Http.GetAsync("/health/ready");
        var health = JsonNode.Parse(await ready.Content.ReadAsStringAsync())!;
        Assert.Equal("Degraded", (string?)health["checks"]!["trainer-specs"]!["status"]);
        Assert.Contains("a.yaml:", (string?)health["checks"]!["trainer-specs"]!["description"]);

        // Fixed: the new version takes over, without a restart.
        await File.WriteAllTextAsync(file, "alpha:\n  trainer_image: img/alpha3\n  env: {FAKE: ok}\n");
        await TestInfra.WaitUntilAsync(async () =>
        {
            trainers = (await _host.GetAsync("/admin/trainers")).Body;
            return (string?)trainers["trainers"]?["alpha"]?["trainer_image"] == "img/alpha3";
        }, TimeSpan.FromSeconds(20), "the fixed spec to load");
        Assert.Empty(trainers["errors"]!.AsArray());
    }
}
