using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace RouteIQ.Ui.Tests;

/// <summary>
/// The dashboard shows what the system holds and acts on it: the demo's training job in the list,
/// a running job's log streamed into its page as the trainer writes it, the model's quality–price
/// plane with production marked, and a rollback button that rolls back. Screenshots of every page
/// go to docs/screenshots/.
/// </summary>
[Collection(DemoWorldCollection.Name)]
[Trait("Category", "Integration")]
public sealed class DashboardShowsTheDemoWorldTests(DemoWorldFixture world)
{
    [Fact]
    public async Task JobListShowsTheDemosTrainingJobAndItsDetail()
    {
        var page = await world.SignedInPageAsync();
        await page.GotoAsync(world.BaseUrl + "/ui/jobs?trainer=knn-router");
        // The demo's own training job is the oldest knn-router job (its continuous retrain and other tests' come later).
        var row = page.Locator("[data-testid=jobs] tr", new PageLocatorOptions { HasText = "knn-router" }).Last;
        await Assertions.Expect(row).ToContainTextAsync("succeeded");
        await DemoWorldFixture.ScreenshotAsync(page, "jobs.png");

        await row.GetByTestId("job-link").ClickAsync();
        await Assertions.Expect(page.GetByTestId("job-state")).ToHaveTextAsync("succeeded");
        await Assertions.Expect(page.GetByTestId("metrics")).ToContainTextAsync("avg_quality");
        await Assertions.Expect(page.GetByTestId("parameters")).ToContainTextAsync("COST_WEIGHT");
        await Assertions.Expect(page.GetByTestId("live-log")).Not.ToBeEmptyAsync();
        await DemoWorldFixture.ScreenshotAsync(page, "job.png");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task RunningJobsLogAppearsInThePageAsTheTrainerWritesIt()
    {
        var page = await world.SignedInPageAsync();
        var started = await world.AdminJsonAsync(HttpMethod.Post, "admin/train/chatty?async=true", new JsonObject());
        var id = started["job_id"]!.GetValue<string>();

        await page.GotoAsync($"{world.BaseUrl}/ui/jobs/{id}");
        var log = page.Locator("[data-log-text]");
        await Assertions.Expect(log).ToContainTextAsync("chatty line 3", new LocatorAssertionsToContainTextOptions { Timeout = 60_000 });
        // Still streaming (the job is not over) when the line arrived, and later lines follow without a reload.
        Assert.Null(await page.GetByTestId("live-log").GetAttributeAsync("data-ended"));
        await Assertions.Expect(page.GetByTestId("job-state")).ToHaveTextAsync("running");
        await Assertions.Expect(log).ToContainTextAsync("chatty line 8", new LocatorAssertionsToContainTextOptions { Timeout = 30_000 });
        await DemoWorldFixture.ScreenshotAsync(page, "job-live-log.png");

        // The trainer exits 3: the stream ends with the state, and the page offers a retry.
        await Assertions.Expect(page.GetByTestId("live-log")).ToHaveAttributeAsync("data-ended", "1", new LocatorAssertionsToHaveAttributeOptions { Timeout = 60_000 });
        await Assertions.Expect(page.GetByTestId("job-state")).ToHaveTextAsync("failed");
        await Assertions.Expect(log).ToContainTextAsync("chatty line 16");
        await page.ReloadAsync();
        await Assertions.Expect(page.GetByTestId("retry")).ToBeVisibleAsync();
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task ModelPageDrawsProductionAndItsRollbackButtonRollsBack()
    {
        var page = await world.SignedInPageAsync();
        var url = $"{world.BaseUrl}/ui/models/{DemoWorldFixture.Model}";
        var first = (await world.AdminJsonAsync(HttpMethod.Get, "status"))["model_version"]!.GetValue<int>();

        // A second version, rolled out: two points on the plane, the new one in production. On the
        // demo's dataset (the oldest; another test may build one from the dashboard's form).
        var datasets = (await world.AdminJsonAsync(HttpMethod.Get, "admin/datasets")).AsArray();
        var demoDataset = datasets[^1]!["dataset_id"]!.GetValue<string>();
        var trained = await world.AdminJsonAsync(HttpMethod.Post, $"admin/train_then_roll/{DemoWorldFixture.Model}",
            new JsonObject { ["dataset"] = demoDataset, ["parameters"] = new JsonObject { ["K"] = 5, ["COST_WEIGHT"] = 0.02 } });
        var second = trained["version"]!.GetValue<int>();
        Assert.NotEqual(first, second);

        await page.GotoAsync(url);
        var chart = page.GetByTestId("quality-price-chart");
        await Assertions.Expect(chart).ToBeVisibleAsync();
        await Assertions.Expect(chart.Locator($"[data-testid=version-point][data-version='{second}']")).ToHaveAttributeAsync("data-production", "true");
        await Assertions.Expect(chart.Locator($"[data-testid=version-point][data-version='{first}']")).ToHaveAttributeAsync("data-production", "false");
        await Assertions.Expect(page.GetByTestId("production-version")).ToHaveTextAsync($"production v{second}");
        // The router trainer's cost-weight sweep is the curve, with the best single model beside it.
        await Assertions.Expect(chart.GetByTestId("curve")).ToHaveCountAsync(1);
        await Assertions.Expect(chart.GetByTestId("best-single")).ToHaveCountAsync(1);
        await Assertions.Expect(page.GetByTestId("signature").First).ToContainTextAsync("files");
        await DemoWorldFixture.ScreenshotAsync(page, "model.png");

        await page.GetByTestId("rollback").ClickAsync();
        await Assertions.Expect(page.GetByTestId("message")).ToContainTextAsync("rollback started");
        await ProductionIsAsync(first, "the rollback to roll back");
        await page.GotoAsync(url);
        await Assertions.Expect(page.GetByTestId("production-version")).ToHaveTextAsync($"production v{first}");
        await Assertions.Expect(chart.Locator($"[data-testid=version-point][data-version='{first}']")).ToHaveAttributeAsync("data-production", "true");

        // The second version's row rolls it out again (every row's button posts the one roll form).
        await page.Locator($"[data-testid=versions] tr[data-version='{second}'] [data-testid=roll]").ClickAsync();
        await Assertions.Expect(page.GetByTestId("message")).ToContainTextAsync($"roll to v{second} started");
        await ProductionIsAsync(second, "the roll button to roll out");

        await page.GotoAsync($"{world.BaseUrl}/ui/models");
        await Assertions.Expect(page.GetByTestId("models")).ToContainTextAsync(DemoWorldFixture.Model);
        await DemoWorldFixture.ScreenshotAsync(page, "models.png");
        await page.Context.CloseAsync();
    }

    private Task ProductionIsAsync(int version, string what) => RouteIQ.Testing.TestInfra.WaitUntilAsync(
        async () => (await world.AdminJsonAsync(HttpMethod.Get, "status"))["model_version"]!.GetValue<int>() == version, TimeSpan.FromSeconds(120), what);

    [Fact]
    public async Task OverviewTelemetryRolloutsAndDatasetsShowTheDemosData()
    {
        // The demo says where the dashboard is, beside its final table and in its closing lines.
        Assert.Contains($"{world.BaseUrl}/ui/models/{DemoWorldFixture.Model}", world.Output, StringComparison.Ordinal);
        Assert.Contains($"open {world.BaseUrl}/ui for the dashboard", world.Output, StringComparison.Ordinal);
        var page = await world.SignedInPageAsync();
        await Assertions.Expect(page.GetByTestId("models")).ToContainTextAsync(DemoWorldFixture.Model);
        await Assertions.Expect(page.GetByTestId("health")).ToContainTextAsync("Healthy");
        await Assertions.Expect(page.GetByTestId("live-rollouts")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("runners")).ToContainTextAsync("process", new LocatorAssertionsToContainTextOptions { IgnoreCase = true });
        await DemoWorldFixture.ScreenshotAsync(page, "overview.png");

        // Fresh decisions after the production version's training window: a current window to compare (drift, PSI per feature).
        var fresh = new RouteIQ.Cli.DemoWorld(4242);
        var lines = Enumerable.Range(0, 60).SelectMany(_ => fresh.Events(fresh.NextQuery(), DateTimeOffset.UtcNow));
        using (var events = new StringContent(string.Join('\n', lines) + "\n", System.Text.Encoding.UTF8, "application/x-ndjson"))
        using (var posted = await world.Admin.PostAsync("admin/telemetry/events", events))
        {
            Assert.True(posted.IsSuccessStatusCode, await posted.Content.ReadAsStringAsync());
        }
        await RouteIQ.Testing.TestInfra.WaitUntilAsync(async () =>
                (await world.AdminJsonAsync(HttpMethod.Get, "admin/continuous"))["trainers"]?[DemoWorldFixture.Model]?["psi"] is JsonObject { Count: > 0 },
            TimeSpan.FromSeconds(60), "PSI per feature over the fresh decisions");
        await page.GotoAsync(world.BaseUrl + "/ui/telemetry");
        // The demo stores 1,800 decisions, then more when its traffic shifts for continuous training.
        await Assertions.Expect(page.GetByTestId("decisions")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+$"));
        Assert.True(long.Parse(await page.GetByTestId("decisions").InnerTextAsync(), System.Globalization.CultureInfo.InvariantCulture) >= 1800);
        await Assertions.Expect(page.GetByTestId("by_model")).Not.ToBeEmptyAsync();
        // The demo's judge graded 30 % of its decisions; its continuous act measured drift per feature.
        await Assertions.Expect(page.GetByTestId("grades_by_source").Locator("tr").First).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("graded-decisions")).ToContainTextAsync("decisions graded");
        await Assertions.Expect(page.Locator($"[data-testid=drift][data-trainer={DemoWorldFixture.Model}] [data-feature]").First).ToBeVisibleAsync();
        await DemoWorldFixture.ScreenshotAsync(page, "telemetry.png");

        await page.GotoAsync(world.BaseUrl + "/ui/rollouts");
        await Assertions.Expect(page.GetByTestId("deployments")).ToContainTextAsync(DemoWorldFixture.Model);
        await DemoWorldFixture.ScreenshotAsync(page, "rollouts.png");

        await page.GotoAsync(world.BaseUrl + "/ui/datasets");
        await Assertions.Expect(page.GetByTestId("datasets")).ToContainTextAsync("1");
        await page.GetByTestId("build").ClickAsync();
        await Assertions.Expect(page.GetByTestId("message")).ToContainTextAsync("built");
        await DemoWorldFixture.ScreenshotAsync(page, "datasets.png");
        await page.Context.CloseAsync();
    }
}
