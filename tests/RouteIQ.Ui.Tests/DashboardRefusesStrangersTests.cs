using Microsoft.Playwright;

namespace RouteIQ.Ui.Tests;

/// <summary>
/// With admin keys configured the dashboard is for admins only: a wrong key is refused at the login
/// form, a POST without a session (or without its antiforgery token) changes nothing, and the session
/// cookie is HTTP-only, SameSite=Strict, scoped to /ui and never a way into /admin/*.
/// </summary>
[Collection(DemoWorldCollection.Name)]
[Trait("Category", "Integration")]
public sealed class DashboardRefusesStrangersTests(DemoWorldFixture world)
{
    [Fact]
    public async Task WrongKeyIsRefusedAndPagesRedirectToTheLoginForm()
    {
        await using var context = await world.NewContextAsync();
        var page = await context.NewPageAsync();

        await page.GotoAsync(world.BaseUrl + "/ui/jobs");
        Assert.StartsWith(world.BaseUrl + "/ui/login", page.Url, StringComparison.Ordinal);
        await DemoWorldFixture.ScreenshotAsync(page, "login.png");

        await page.GetByTestId("api-key").FillAsync("not-the-key");
        var response = await page.RunAndWaitForResponseAsync(() => page.GetByTestId("sign-in").ClickAsync(),
            r => r.Url.Contains("/ui/login", StringComparison.Ordinal) && r.Request.Method == "POST");
        Assert.Equal(401, response.Status);
        await Assertions.Expect(page.GetByTestId("login-error")).ToBeVisibleAsync();
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == "routeiq_ui");

        await page.GetByTestId("api-key").FillAsync(DemoWorldFixture.ApiKey);
        await page.GetByTestId("sign-in").ClickAsync();
        await page.WaitForURLAsync(u => u.EndsWith("/ui/jobs", StringComparison.Ordinal));
        var session = Assert.Single(await context.CookiesAsync(), c => c.Name == "routeiq_ui");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.Equal("/ui", session.Path);
    }

    [Fact]
    public async Task PostsWithoutASessionOrAntiforgeryTokenChangeNothing()
    {
        var before = (await world.AdminJsonAsync(HttpMethod.Get, "status"))["model_version"]!.GetValue<int>();
        using var stranger = new HttpClient { BaseAddress = new Uri(world.BaseUrl + "/") };
        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["_handler"] = "rollback" });

        // No session: 401 before anything runs.
        using var anonymous = await stranger.PostAsync($"ui/models/{DemoWorldFixture.Model}", form);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
        using var rolloutForm = new FormUrlEncodedContent(new Dictionary<string, string> { ["_handler"] = "abort" });
        using var abort = await stranger.PostAsync($"ui/rollouts/{Guid.NewGuid()}", rolloutForm);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, abort.StatusCode);
        using var stream = await stranger.GetAsync($"ui/rollouts/{Guid.NewGuid()}/stream");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, stream.StatusCode);

        // A signed-in browser's cookie without the page's antiforgery token (a cross-site form): refused.
        var page = await world.SignedInPageAsync();
        var forged = await page.Context.APIRequest.PostAsync($"{world.BaseUrl}/ui/models/{DemoWorldFixture.Model}",
            new APIRequestContextOptions { Form = page.Context.APIRequest.CreateFormData().Append("_handler", "rollback") });
        Assert.Equal(400, forged.Status);

        // The session cookie is no key for the admin API.
        var admin = await page.Context.APIRequest.GetAsync($"{world.BaseUrl}/admin/jobs");
        Assert.Equal(401, admin.Status);

        var after = (await world.AdminJsonAsync(HttpMethod.Get, "status"))["model_version"]!.GetValue<int>();
        Assert.Equal(before, after);
        await page.Context.CloseAsync();
    }
}
