using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>One gateway-admin on its own vhost and database, with the fake runner and rollout.</summary>
public sealed class LedgerFixture : IAsyncLifetime
{
    public const string Specs = """
        knn:
          trainer_image: routeiq/router-trainer
          image_options: {cuda: routeiq/router-trainer:cuda, cpu: routeiq/router-trainer:cpu}
          serve_image: routeiq/router-server
          model_name: knn-router
          env: {ROUTER_TYPE: knn, FAKE: ok, API_KEY: supersecret-value}
        failing:
          trainer_image: routeiq/t
          env: {FAKE: fail}
        hanging:
          trainer_image: routeiq/t
          env: {FAKE: hang}
        badroll:
          trainer_image: routeiq/t
          serve_image: routeiq/s
          model_name: badroll-model
        """;

    public FakeCluster Cluster { get; } = new();
    public AdminTestHost Host { get; private set; } = null!;
    public string SpecsDir { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        SpecsDir = TestInfra.TempDirectory("admin-specs");
        await File.WriteAllTextAsync(Path.Combine(SpecsDir, "10-trainers.yaml"), Specs);
        var vhost = await TestInfra.CreateVirtualHostAsync("admin-ledger");
        var db = await TestInfra.CreateDatabaseAsync("admin_ledger");
        Host = await AdminTestHost.StartAsync(vhost, db, SpecsDir, configure: b => FakeCluster.AddTo(b, Cluster));
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}
