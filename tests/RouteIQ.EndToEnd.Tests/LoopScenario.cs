using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using RouteIQ.Cli;
using RouteIQ.Testing;

namespace RouteIQ.EndToEnd.Tests;

/// <summary>
/// The whole loop, whatever the deployment: telemetry in → dataset → train_then_roll → the router
/// server answers through the stable endpoint → a second version → rollback → back to the first.
/// </summary>
internal sealed class LoopScenario(AdminClient admin, AdminClient telemetry, string trainer, Func<IReadOnlyList<string>, Task> ingest)
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public List<int> RolledOutVersions { get; } = [];

    public async Task RunAsync()
    {
        // Telemetry.
        var world = new DemoWorld(seed: 11);
        var events = Enumerable.Range(0, 250).SelectMany(_ => world.Events(world.NextQuery(), DateTimeOffset.UtcNow)).ToList();
        var since = DateTimeOffset.UtcNow.AddMinutes(-1);
        await ingest(events);
        await TestInfra.WaitUntilAsync(async () =>
        {
            var summary = await telemetry.SendAsync(HttpMethod.Get, "admin/telemetry/summary");
            return summary.Ok && summary.Body!["decisions"]!.GetValue<long>() >= events.Count;
        }, TimeSpan.FromSeconds(90), $"{events.Count} decisions stored");

        // Dataset.
        var dataset = await telemetry.SendAsync(HttpMethod.Post, "admin/datasets", new JsonObject
        {
            ["since"] = since,
            ["until"] = DateTimeOffset.UtcNow.AddMinutes(1),
            ["seed"] = 5,
            ["model_catalog"] = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(DemoWorld.Catalog())),
        });
        Assert.True(dataset.Ok, dataset.Text);
        Assert.True(dataset.Body!["train_records"]!.GetValue<long>() > 0, dataset.Text);
        var datasetUri = dataset.Body["uri"]!.GetValue<string>();

        // Version 1, trained and rolled out.
        var first = await TrainThenRollAsync(datasetUri, k: 5);
        var publicUrl = first.Body!["public_url"]!.GetValue<string>();
        var v1 = first.Body["version"]!.GetValue<int>();
        Assert.Equal(v1.ToString(System.Globalization.CultureInfo.InvariantCulture), await ServedVersionAsync(publicUrl));

        // Version 2.
        var second = await TrainThenRollAsync(datasetUri, k: 9);
        var v2 = second.Body!["version"]!.GetValue<int>();
        Assert.Equal(v1 + 1, v2);
        Assert.Equal(v2.ToString(System.Globalization.CultureInfo.InvariantCulture), await ServedVersionAsync(publicUrl));
        var status = await admin.SendAsync(HttpMethod.Get, "status");
        Assert.True(status.Ok, status.Text);
        Assert.Equal(v2, status.Body!["model_version"]!.GetValue<int>());
        Assert.True(status.Body["healthy"]!.GetValue<bool>(), status.Text);

        // Rollback: back to the first version, served and reported.
        var rollback = await admin.SendAsync(HttpMethod.Post, "admin/rollback", new JsonObject());
        Assert.True(rollback.Ok, rollback.Text);
        Assert.Equal(v1, rollback.Body!["version"]!.GetValue<int>());
        status = await admin.SendAsync(HttpMethod.Get, "status");
        Assert.Equal(v1, status.Body!["model_version"]!.GetValue<int>());
        Assert.Equal(v1.ToString(System.Globalization.CultureInfo.InvariantCulture), await ServedVersionAsync(publicUrl));

        var history = await admin.SendAsync(HttpMethod.Get, "admin/deployments");
        Assert.True(history.Ok, history.Text);
        Assert.True(history.Text.Split("\"version\"").Length - 1 >= 3, history.Text);
    }

    private async Task<ApiResponse> TrainThenRollAsync(string datasetUri, int k)
    {
        var response = await admin.SendAsync(HttpMethod.Post, $"admin/train_then_roll/{trainer}", new JsonObject
        {
            ["parameters"] = new JsonObject { ["ROUTEIQ_DATASET_URI"] = datasetUri, ["K"] = k },
        });
        Assert.True(response.Status == HttpStatusCode.OK, response.Text);
        Assert.True(response.Body!["rolled"]!.GetValue<bool>(), response.Text);
        Assert.Equal("production", response.Body["alias"]!.GetValue<string>());
        Assert.True(response.Body["metrics"]!["avg_quality"]!.GetValue<double>() > 0, response.Text);
        RolledOutVersions.Add(response.Body["version"]!.GetValue<int>());
        return response;
    }

    private async Task<string> ServedVersionAsync(string publicUrl)
    {
        using var response = await _http.PostAsJsonAsync($"{publicUrl.TrimEnd('/')}/invocations", new { query = "Write a Go function that parses CSV rows" });
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(response.IsSuccessStatusCode, body?.ToJsonString());
        Assert.Contains(body!["model"]!.GetValue<string>(), DemoWorld.Models.Select(m => m.Name));
        return body["model_version"]!.GetValue<string>();
    }
}
