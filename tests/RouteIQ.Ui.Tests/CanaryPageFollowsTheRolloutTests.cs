using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace RouteIQ.Ui.Tests;

/// <summary>
/// A canary as an operator watches it: the rollouts list links to the rollout's page, the page's
/// state, step and weight move on as the canary steps (pushed by the server, no reload), its charts
/// gain points, and its pause and abort buttons act: pause holds the step, abort rolls the candidate
/// back and the page shows it while production stays where it was.
/// </summary>
[Collection(DemoWorldCollection.Name)]
[Trait("Category", "Integration")]
public sealed class CanaryPageFollowsTheRolloutTests(DemoWorldFixture world)
{
    private const int StepSeconds = 3;
    private static readonly int[] Steps = [5, 10, 20, 30, 40, 50, 60, 70];

    [Fact]
    public async Task CanarysPageUpdatesWhileItStepsAndItsPauseAndAbortButtonsAct()
    {
        var production = (await world.AdminJsonAsync(HttpMethod.Get, "status"))["model_version"]!.GetValue<int>();
        // A version to roll, trained on the demo's dataset (the oldest) without rolling.
        var datasets = (await world.AdminJsonAsync(HttpMethod.Get, "admin/datasets")).AsArray();
        var trained = await world.AdminJsonAsync(HttpMethod.Post, $"admin/train/{DemoWorldFixture.Model}",
            new JsonObject { ["dataset"] = datasets[^1]!["dataset_id"]!.GetValue<string>() });
        var candidate = trained["version"]!.GetValue<int>();

        // Traffic on the stable endpoint for as long as the canary runs: each step needs candidate requests.
        using var stop = new CancellationTokenSource();
        using var http = new HttpClient { BaseAddress = new Uri(world.Stable + "/") };
        var traffic = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await http.PostAsJsonAsync($"{DemoWorldFixture.Model}/invocations", new { query = "How do I sort a list in Python?" }, stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or HttpRequestException)
                {
                }
            }
        });
        try
        {
            var roll = await world.AdminJsonAsync(HttpMethod.Post, "admin/roll?async=true", new JsonObject
            {
                ["name"] = DemoWorldFixture.Model,
                ["ref"] = candidate,
                ["promotion"] = new JsonObject
                {
                    ["canary"] = new JsonObject
                    {
                        ["steps"] = new JsonArray(Steps.Select(s => (JsonNode)s).ToArray()),
                        ["step_seconds"] = StepSeconds,
                        ["min_requests"] = 5,
                        // Both versions are the same kind of server on one loaded machine: p99 is not what this test is about.
                        ["max_latency_p99_ratio"] = 50,
                        ["max_step_seconds"] = 300,
                    },
                },
            });
            var id = roll["job_id"]!.GetValue<string>();

            var page = await world.SignedInPageAsync();
            await page.GotoAsync(world.BaseUrl + "/ui/rollouts");
            await page.Locator($"[data-rollout='{id}'] [data-testid=rollout-link]").ClickAsync();
            await page.WaitForURLAsync($"{world.BaseUrl}/ui/rollouts/{id}");
            await Assertions.Expect(page.GetByTestId("candidate-version")).ToHaveTextAsync($"v{candidate}");
            await Assertions.Expect(page.GetByTestId("baseline-version")).ToHaveTextAsync($"v{production}");
            await Assertions.Expect(page.GetByTestId("promotion-rules")).ToContainTextAsync("step_seconds");

            // The same document all along: what changes arrives over the server's push, not a reload.
            await page.EvaluateAsync("() => { window.__sameDocument = 'yes'; }");
            await Assertions.Expect(page.GetByTestId("rollout-state")).ToHaveTextAsync("canary", new LocatorAssertionsToHaveTextOptions { Timeout = 120_000 });
            var step = page.GetByTestId("rollout-step");
            var first = int.Parse(System.Text.RegularExpressions.Regex.Match(await step.InnerTextAsync(), @"^step (\d+) of").Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.True(first < Steps.Length, $"the page opened at step {first}, the last");
            await Assertions.Expect(step).ToHaveTextAsync($"step {first + 1} of {Steps.Length}", new LocatorAssertionsToHaveTextOptions { Timeout = 120_000 });
            await Assertions.Expect(page.GetByTestId("rollout-weight")).ToHaveTextAsync($"{Steps[first]} %");
            Assert.Equal("yes", await page.EvaluateAsync<string>("() => window.__sameDocument"));
            var updates = int.Parse(await page.GetByTestId("live-rollout").GetAttributeAsync("data-updates") ?? "0", CultureInfo.InvariantCulture);
            Assert.True(updates >= 2, $"the live part was pushed {updates} times");
            // Gating and two steps on the weight chart at least; a window's numbers on the error and p99 charts.
            Assert.True(await PointsAsync(page, "weight-chart") >= 3);
            await Assertions.Expect(page.GetByTestId("error-chart").Locator("[data-series=candidate] circle").First).ToBeAttachedAsync();
            await Assertions.Expect(page.GetByTestId("p99-chart").Locator("[data-series=baseline] circle").First).ToBeAttachedAsync();

            // Pause: the step holds for more than two step lengths while traffic flows (rollout's own clock says how long).
            await page.GetByTestId("pause").ClickAsync();
            await Assertions.Expect(page.GetByTestId("message")).ToContainTextAsync("pause requested");
            var pausedAt = DateTimeOffset.UtcNow;
            var heldStep = (await RolloutUpdatedAfterAsync(id, pausedAt.AddSeconds(1)))["step"]!.GetValue<int>();
            var later = await RolloutUpdatedAfterAsync(id, pausedAt.AddSeconds(1 + 2.5 * StepSeconds));
            Assert.Equal("canary", later["state"]!.GetValue<string>());
            Assert.Equal(heldStep, later["step"]!.GetValue<int>());
            await Assertions.Expect(step).ToHaveTextAsync($"step {heldStep + 1} of {Steps.Length}");
            await DemoWorldFixture.ScreenshotAsync(page, "rollout-detail.png");

            // Abort = rollback: the page shows it, its buttons go, production is untouched.
            await page.GetByTestId("abort").ClickAsync();
            await Assertions.Expect(page.GetByTestId("message")).ToContainTextAsync("abort requested");
            await Assertions.Expect(page.GetByTestId("rollout-state")).ToHaveTextAsync("aborted", new LocatorAssertionsToHaveTextOptions { Timeout = 60_000 });
            await Assertions.Expect(page.GetByTestId("rollout-reason")).ToContainTextAsync("aborted by operator");
            await Assertions.Expect(page.GetByTestId("rollout-weight")).ToHaveTextAsync("0 %");
            await Assertions.Expect(page.GetByTestId("rollout-history")).ToContainTextAsync("aborted");
            await Assertions.Expect(page.GetByTestId("rollout-controls")).ToBeHiddenAsync();
            await Assertions.Expect(page.GetByTestId("live-rollout")).ToHaveAttributeAsync("data-ended", "1");
            await Assertions.Expect(step).ToHaveTextAsync($"ended at step {heldStep + 1} of {Steps.Length}");
            Assert.Equal(production, (await world.AdminJsonAsync(HttpMethod.Get, "status"))["model_version"]!.GetValue<int>());

            await page.GotoAsync(world.BaseUrl + "/ui/rollouts");
            await Assertions.Expect(page.Locator($"[data-rollout='{id}']")).ToContainTextAsync("aborted");
            await page.Context.CloseAsync();
        }
        finally
        {
            await stop.CancelAsync();
            await traffic;
        }
    }

    /// <summary>The rollout's document once rollout saved it at or after <paramref name="at"/> (it saves a running window's numbers every second).</summary>
    private async Task<JsonNode> RolloutUpdatedAfterAsync(string id, DateTimeOffset at)
    {
        JsonNode doc = new JsonObject();
        await RouteIQ.Testing.TestInfra.WaitUntilAsync(async () =>
        {
            doc = await world.AdminJsonAsync(HttpMethod.Get, $"admin/rollouts/{id}");
            return doc["updated_at"]!.GetValue<DateTimeOffset>() >= at;
        }, TimeSpan.FromSeconds(60), $"rollout {id} to be saved after {at:O}");
        return doc;
    }

    private static async Task<int> PointsAsync(IPage page, string chart)
        => int.Parse(await page.GetByTestId(chart).GetAttributeAsync("data-points") ?? "0", CultureInfo.InvariantCulture);
}
