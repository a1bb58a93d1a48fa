using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Npgsql;
using RouteIQ.Cli;
using RouteIQ.Testing;

namespace RouteIQ.EndToEnd.Tests;

/// <summary>
/// The previous release (the commit in <c>previous-release</c>, built by scripts/build-previous-release.sh)
/// runs on a data dir or a PostgreSQL database and does real work; this build then starts on the
/// same stores and finds every row, serves the active model, and trains and rolls out a new
/// version. Kept for every schema change: move <c>previous-release</c> forward as releases ship.
/// </summary>
[Trait("Category", "Integration")]
public sealed class UpgradeTests
{
    private static readonly Lazy<Task<string>> PreviousRelease = new(BuildPreviousReleaseAsync);
    private static readonly string[] Tables = ["gateway_admin.jobs", "gateway_admin.outbox", "rollout.models", "rollout.model_versions", "rollout.model_aliases",
        "rollout.deployments", "telemetry.decisions", "telemetry.rejected_events", "telemetry.datasets"];

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task The_previous_release_stores_are_opened_by_this_build_with_every_row_the_active_model_served_and_new_work_done(string provider)
    {
        var previous = await PreviousRelease.Value;
        var dir = TestInfra.TempDirectory("upgrade");
        var specs = Directory.CreateDirectory(Path.Combine(dir, "specs")).FullName;
        await File.WriteAllTextAsync(Path.Combine(specs, "knn.yaml"), """
            knn-upgrade:
              trainer_image: routeiq/router-trainer:dev
              serve_image: routeiq/router-server:dev
              model_name: knn-upgrade
              timeout: 300
              env:
                ROUTER_TYPE: knn
            """);
        var port = TestInfra.FreePort();
        var publicUrl = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var postgres = provider == "postgresql" ? await TestInfra.CreateDatabaseAsync("upgrade") : null;
        var env = new Dictionary<string, string?>
        {
            ["RouteIQ__DataDir"] = Path.Combine(dir, "data"),
            ["RouteIQ__Specs__Path"] = specs,
            ["RouteIQ__Rollout__PublicUrl"] = publicUrl,
            ["RouteIQ__Telemetry__StoreQueryText"] = "true",
            ["ConnectionStrings__RabbitMq"] = null,
            ["ConnectionStrings__RouteIQ"] = postgres,
        };
        var adminUrl = $"http://127.0.0.1:{port}";
        using var admin = AdminClient.Create(adminUrl, null, TimeSpan.FromMinutes(5));

        // The previous release: telemetry, a dataset, a trained and rolled-out version, a rollback pair.
        string datasetId;
        int v1;
        JsonNode jobsBefore, deploymentsBefore;
        long decisions;
        await using (var old = ServiceProcess.Start(previous, env, "up", "--urls", adminUrl))
        {
            await old.WaitForHttpOkAsync($"{adminUrl}/health/ready", TimeSpan.FromSeconds(120));
            var world = new DemoWorld(seed: 17);
            var events = Enumerable.Range(0, 200).SelectMany(_ => world.Events(world.NextQuery(), DateTimeOffset.UtcNow)).ToList();
            var since = DateTimeOffset.UtcNow.AddMinutes(-1);
            foreach (var chunk in events.Chunk(500))
            {
                using var content = new StringContent(string.Join('\n', chunk), Encoding.UTF8, "application/x-ndjson");
                using var response = await admin.Http.PostAsync("admin/telemetry/events", content);
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            }
            var dataset = await admin.SendAsync(HttpMethod.Post, "admin/datasets", new JsonObject
            {
                ["since"] = since,
                ["until"] = DateTimeOffset.UtcNow.AddMinutes(1),
                ["seed"] = 3,
                ["model_catalog"] = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(DemoWorld.Catalog())),
            });
            Assert.True(dataset.Ok, dataset.Text);
            datasetId = dataset.Body!["dataset_id"]!.GetValue<string>();
            v1 = (await TrainThenRollAsync(admin, datasetId)).Body!["version"]!.GetValue<int>();
            Assert.Equal(v1.ToString(System.Globalization.CultureInfo.InvariantCulture), await ServedVersionAsync(publicUrl));

            jobsBefore = (await admin.SendAsync(HttpMethod.Get, "admin/jobs")).Body!;
            deploymentsBefore = (await admin.SendAsync(HttpMethod.Get, "admin/deployments")).Body!;
            decisions = (await admin.SendAsync(HttpMethod.Get, "admin/telemetry/summary")).Body!["decisions"]!.GetValue<long>();
            Assert.True(decisions >= events.Count, $"{decisions} decisions stored");
            Assert.Equal(0, await old.TerminateAsync(TimeSpan.FromSeconds(60)));
        }
        var rowsBefore = await CountRowsAsync(env, postgres);
        Assert.All(Tables.Where(t => t is not "gateway_admin.outbox" and not "telemetry.rejected_events"), t => Assert.True(rowsBefore[t] > 0, $"{t} is empty before the upgrade"));

        // This build on the same stores.
        await using var current = ServiceProcess.Start("routeiq.dll", env, "up", "--urls", adminUrl);
        await current.WaitForHttpOkAsync($"{adminUrl}/health/ready", TimeSpan.FromSeconds(120));
        Assert.Contains("Adopted the", current.Output);

        var rowsAfter = await CountRowsAsync(env, postgres);
        foreach (var table in Tables.Where(t => t != "gateway_admin.outbox"))
        {
            Assert.True(rowsAfter[table] >= rowsBefore[table], $"{table}: {rowsBefore[table]} rows before the upgrade, {rowsAfter[table]} after");
        }
        Assert.Equal(rowsBefore["telemetry.decisions"], rowsAfter["telemetry.decisions"]);
        Assert.Equal(rowsBefore["rollout.model_versions"], rowsAfter["rollout.model_versions"]);

        var jobsAfter = (await admin.SendAsync(HttpMethod.Get, "admin/jobs")).Body!;
        Assert.Equal(Ids(jobsBefore), Ids(jobsAfter).Intersect(Ids(jobsBefore)).Order());
        // The history is unchanged; only where the active version's server listens may differ (it is started again).
        Assert.Equal(WithoutServers(deploymentsBefore), WithoutServers((await admin.SendAsync(HttpMethod.Get, "admin/deployments")).Body!));
        Assert.Equal(decisions, (await admin.SendAsync(HttpMethod.Get, "admin/telemetry/summary")).Body!["decisions"]!.GetValue<long>());
        var datasets = await admin.SendAsync(HttpMethod.Get, "admin/datasets");
        Assert.Contains(datasetId, datasets.Text);
        var status = await admin.SendAsync(HttpMethod.Get, "status");
        Assert.True(status.Ok, status.Text);
        Assert.Equal(v1, status.Body!["model_version"]!.GetValue<int>());
        await TestInfra.WaitUntilAsync(async () => await ServedVersionAsync(publicUrl, assert: false) == v1.ToString(System.Globalization.CultureInfo.InvariantCulture),
            TimeSpan.FromSeconds(60), $"version {v1} served after the upgrade");

        // New work on the upgraded stores.
        var v2 = (await TrainThenRollAsync(admin, datasetId)).Body!["version"]!.GetValue<int>();
        Assert.Equal(v1 + 1, v2);
        Assert.Equal(v2.ToString(System.Globalization.CultureInfo.InvariantCulture), await ServedVersionAsync(publicUrl));
        Assert.Equal(0, await current.TerminateAsync(TimeSpan.FromSeconds(60)));
    }

    private static async Task<string> BuildPreviousReleaseAsync()
    {
        var repo = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repo, "RouteIQ.sln")))
        {
            repo = Path.GetDirectoryName(repo) ?? throw new InvalidOperationException("RouteIQ.sln not found above the test folder");
        }
        var output = await TestInfra.RunAsync("bash", Path.Combine(repo, "scripts", "build-previous-release.sh"));
        var dll = output.Trim().Split('\n')[^1].Trim();
        Assert.True(File.Exists(dll), $"the previous release was not built:\n{output}");
        return dll;
    }

    private static async Task<ApiResponse> TrainThenRollAsync(AdminClient admin, string datasetId)
    {
        var response = await admin.SendAsync(HttpMethod.Post, "admin/train_then_roll/knn-upgrade", new JsonObject
        {
            ["dataset"] = datasetId,
            ["parameters"] = new JsonObject { ["K"] = 5 },
        });
        Assert.True(response.Status == HttpStatusCode.OK, response.Text);
        Assert.True(response.Body!["rolled"]!.GetValue<bool>(), response.Text);
        return response;
    }

    private static async Task<string?> ServedVersionAsync(string publicUrl, bool assert = true)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            using var response = await http.PostAsJsonAsync($"{publicUrl}/invocations", new { query = "Write a Go function that parses CSV rows" });
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync());
            if (assert)
            {
                Assert.True(response.IsSuccessStatusCode, body?.ToJsonString());
            }
            return response.IsSuccessStatusCode ? body?["model_version"]?.GetValue<string>() : null;
        }
        catch (HttpRequestException) when (!assert)
        {
            return null;
        }
    }

    private static string WithoutServers(JsonNode deployments)
        => System.Text.RegularExpressions.Regex.Replace(deployments.ToJsonString(), "\"(server_url|workload_[a-z]+)\":(\"[^\"]*\"|null)", "");

    private static List<string> Ids(JsonNode jobs)
        => [.. jobs["jobs"]!.AsArray().Select(j => j!["job_id"]!.GetValue<string>()).Order()];

    /// <summary>Rows per table, read from the stores themselves (SQLite files in the data dir, or the PostgreSQL schemas).</summary>
    private static async Task<Dictionary<string, long>> CountRowsAsync(Dictionary<string, string?> env, string? postgres)
    {
        var counts = new Dictionary<string, long>();
        foreach (var qualified in Tables)
        {
            var (schema, table) = (qualified.Split('.')[0], qualified.Split('.')[1]);
            if (postgres is null)
            {
                await using var connection = new SqliteConnection($"Data Source={Path.Combine(env["RouteIQ__DataDir"]!, schema + ".db")};Mode=ReadOnly;Pooling=false");
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = $"SELECT count(*) FROM \"{table}\"";
                counts[qualified] = (long)(await command.ExecuteScalarAsync())!;
            }
            else
            {
                await using var connection = new NpgsqlConnection(postgres);
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = $"SELECT count(*) FROM \"{schema}\".\"{table}\"";
                counts[qualified] = (long)(await command.ExecuteScalarAsync())!;
            }
        }
        return counts;
    }
}
