using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using RouteIQ.Cli;
using RouteIQ.Testing;

namespace RouteIQ.Ui.Tests;

/// <summary>
/// The demo's world, once per test class: <c>routeiq demo</c> as a process with an admin key, a
/// one-second heartbeat (the live log's cadence) and one more trainer, <c>chatty</c>, that writes
/// sixteen numbered lines, one every half second, and then fails. Plus a headless Debian Chromium.
/// </summary>
public sealed class DemoWorldFixture : IAsyncLifetime
{
    public const string ApiKey = "ui-test-admin-key-0123456789";
    public const string Model = "knn-router";
    public const string Chromium = "/usr/bin/chromium";

    private ServiceProcess? _demo;
    private IPlaywright? _playwright;

    public string BaseUrl { get; private set; } = "";

    /// <summary>The stable endpoint (<c>{Stable}/knn-router/invocations</c>): where a canary's traffic goes.</summary>
    public string Stable { get; private set; } = "";
    public IBrowser Browser { get; private set; } = null!;
    public HttpClient Admin { get; private set; } = null!;
    public string Output => _demo?.Output ?? "";

    public async Task InitializeAsync()
    {
        var dir = TestInfra.TempDirectory("ui");
        var specs = Directory.CreateDirectory(Path.Combine(dir, "specs")).FullName;
        var shipped = EmbeddedHost.FindSpecs() ?? throw new InvalidOperationException("deploy/trainer-specs not found from the test folder");
        File.Copy(Path.Combine(shipped, "knn-router.yaml"), Path.Combine(specs, "knn-router.yaml"));
        await File.WriteAllTextAsync(Path.Combine(specs, "chatty.yaml"), """
            chatty:
              trainer_image: routeiq/router-trainer:dev
              command: ["/bin/sh", "-c", "i=1; while [ $i -le 16 ]; do echo \"chatty line $i at $(date +%s%3N)\"; i=$((i+1)); sleep 0.5; done; exit 3"]
              timeout: 300
            """);
        var port = TestInfra.FreePort();
        BaseUrl = $"http://127.0.0.1:{port}";
        Stable = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var env = new Dictionary<string, string?>
        {
            ["RouteIQ__DataDir"] = Path.Combine(dir, "data"),
            ["RouteIQ__Specs__Path"] = specs,
            ["RouteIQ__Rollout__PublicUrl"] = Stable,
            ["RouteIQ__Admin__ApiKeys__0"] = ApiKey,
            ["RouteIQ__Runner__HeartbeatSeconds"] = "1",
            // The ledger's "lost" threshold stays at 3 × 10 s on a loaded machine.
            ["RouteIQ__Jobs__HeartbeatSeconds"] = "10",
            ["ConnectionStrings__RabbitMq"] = null,
            ["ConnectionStrings__RouteIQ"] = null,
            ["NO_COLOR"] = "1",
        };
        _demo = ServiceProcess.Start("routeiq.dll", env, "demo", "--queries", "300", "--urls", BaseUrl);
        await TestInfra.WaitUntilAsync(() => Task.FromResult(_demo.Output.Contains("RouteIQ keeps running", StringComparison.Ordinal) || _demo.HasExited),
            TimeSpan.FromMinutes(5), "the demo to complete");
        Assert.False(_demo.HasExited, "demo exited:\n" + _demo.Output);

        Admin = new HttpClient { BaseAddress = new Uri(BaseUrl + "/"), Timeout = TimeSpan.FromMinutes(5) };
        Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);

        Assertions.SetDefaultExpectTimeout(60_000);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // Root in a container: Chromium's sandbox needs user namespaces it may not have.
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    /// <summary>A fresh browser context, with waits sized for a loaded 2-core machine.</summary>
    public async Task<IBrowserContext> NewContextAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1366, Height = 900 } });
        context.SetDefaultTimeout(90_000);
        context.SetDefaultNavigationTimeout(90_000);
        return context;
    }

    /// <summary>A browser context signed in through the login form.</summary>
    public async Task<IPage> SignedInPageAsync()
    {
        var context = await NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(BaseUrl + "/ui/login");
        await page.GetByTestId("api-key").FillAsync(ApiKey);
        await page.GetByTestId("sign-in").ClickAsync();
        await page.WaitForURLAsync(BaseUrl + "/ui");
        return page;
    }

    public async Task<JsonNode> AdminJsonAsync(HttpMethod method, string path, JsonNode? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        }
        using var response = await Admin.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{method} {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>docs/screenshots of the checkout this test runs from.</summary>
    public static string ScreenshotPath(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RouteIQ.sln")))
            {
                return Path.Combine(dir.FullName, "docs", "screenshots", name);
            }
        }
        return Path.Combine(AppContext.BaseDirectory, "screenshots", name);
    }

    public static Task ScreenshotAsync(IPage page, string name)
        => page.ScreenshotAsync(new PageScreenshotOptions { Path = ScreenshotPath(name), FullPage = true });

    public async Task DisposeAsync()
    {
        Admin?.Dispose();
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }
        _playwright?.Dispose();
        if (_demo is not null)
        {
            await _demo.TerminateAsync(TimeSpan.FromSeconds(60));
            await _demo.DisposeAsync();
        }
    }
}
