using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using RouteIQ.Cli;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// All four services in one process (<see cref="EmbeddedHost"/>: in-memory bus, SQLite, file
/// artifacts) with the process launcher: real trainers are shell commands that check their
/// environment and write a model; the serving command is busybox httpd answering <c>/ping</c>.
/// </summary>
[Trait("Category", "Integration")]
public sealed class EndToEndFixture : IAsyncLifetime
{
    // The trainer checks the spec's env reached it, then writes its model and metrics.
    private const string TrainCommand = """["/bin/sh", "-c", "test \"$FOO\" = bar && echo \"model $ROUTEIQ_JOB_ID\" > $ROUTEIQ_OUTPUT_DIR/model.bin && echo '{\"acc\":0.9}' > $ROUTEIQ_OUTPUT_DIR/metrics.json && echo trained"]""";
    private const string ServeCommand = """["/bin/busybox", "sh", "-c", "d=$(mktemp -d) && echo pong > $d/ping && exec /bin/busybox httpd -f -p 127.0.0.1:$SERVE_PORT -h $d"]""";

    public static string Specs => $$"""
        {
          "e2e-plain": {"trainer_image": "process", "serve_image": "busybox-httpd", "model_name": "e2e-plain", "env": {"FOO": "bar"}, "command": {{TrainCommand}}, "serve_command": {{ServeCommand}}},
          "e2e-roll": {"trainer_image": "process", "serve_image": "busybox-httpd", "model_name": "e2e-roll", "env": {"FOO": "bar"}, "command": {{TrainCommand}}, "serve_command": {{ServeCommand}}},
          "e2e-toggle": {"trainer_image": "process", "serve_image": "busybox-httpd", "model_name": "e2e-toggle", "env": {"FOO": "bar"}, "command": {{TrainCommand}}, "serve_command": {{ServeCommand}}},
          "e2e-slow": {"trainer_image": "process", "model_name": "e2e-slow", "command": ["/bin/sh", "-c", "echo started; sleep 120"]},
          "e2e-nofoo": {"trainer_image": "process", "model_name": "e2e-nofoo", "command": {{TrainCommand}}}
        }
        """;

    public WebApplication App { get; private set; } = null!;
    public string BaseUrl { get; private set; } = null!;
    public string SpecsDir { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        SpecsDir = TestInfra.TempDirectory("e2e-specs");
        await File.WriteAllTextAsync(Path.Combine(SpecsDir, "10-e2e.json"), Specs);
        var port = TestInfra.FreePort();
        BaseUrl = $"http://127.0.0.1:{port}";
        App = EmbeddedHost.Build(
        [
            "--urls", BaseUrl,
            "--RouteIQ:DataDir", TestInfra.TempDirectory("e2e-data"),
            "--RouteIQ:Specs:Path", SpecsDir,
            "--RouteIQ:Specs:PollSeconds", "0.5",
            "--RouteIQ:Workloads:Launcher", "Process",
            "--RouteIQ:Rollout:PublicUrl", $"http://127.0.0.1:{TestInfra.FreePort()}",
            "--RouteIQ:Rollout:StopServersOnShutdown", "true",
            "--RouteIQ:Rollout:DrainGraceSeconds", "0",
            "--RouteIQ:Admin:ApiKeys:0", AdminTestHost.ApiKey,
            "--RouteIQ:Admin:VersionGraceSeconds", "3",
            "--Logging:LogLevel:Default", "Warning",
        ]);
        await App.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(120) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminTestHost.ApiKey);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        await App.DisposeAsync();
    }
}

[Trait("Category", "Integration")]
public sealed class EndToEndTests(EndToEndFixture fixture) : IClassFixture<EndToEndFixture>
{
    private HttpClient Http => fixture.Http;

    private async Task<(int Status, JsonObject Body, HttpResponseMessage Response)> PostAsync(string path, string json, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        configure?.Invoke(request);
        var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? [] : (JsonNode.Parse(text) as JsonObject ?? []), response);
    }

    private async Task<JsonObject> GetAsync(string path) => JsonNode.Parse(await Http.GetStringAsync(path))!.AsObject();

    private static void Async(HttpRequestMessage r) => r.Headers.Add("Prefer", "respond-async");

    [Fact]
    public async Task Train_runs_the_trainer_with_its_environment_and_registers_the_model()
    {
        var (status, body, _) = await PostAsync("/admin/train/e2e-plain", """{"parameters": {"EXTRA": 1, "FLAG": false}}""");

        Assert.True(status == 200, body.ToJsonString());
        Assert.Equal("e2e-plain", (string?)body["registered_model"]);
        Assert.Equal(0.9, (double?)body["metrics"]!["acc"]);
        Assert.Equal("busybox-httpd", (string?)body["serve_image"]);
        Assert.Equal("1", (string?)body["parameters"]!["EXTRA"]);
        Assert.Equal("false", (string?)body["parameters"]!["FLAG"]);
        Assert.Null(body["logs_tail"]);
        Assert.NotNull(body["container"]);
        Assert.True((double?)body["duration_seconds"] >= 0);

        // The full log is kept in the artifact store.
        Assert.Contains("trained", await Http.GetStringAsync($"/admin/jobs/{body["job_id"]}/logs"));
        // The produced version is in the registry: roll it out by its number.
        var (rolled, roll, _) = await PostAsync("/admin/roll", """{"name": "e2e-plain", "ref": 1}""");
        Assert.True(rolled == 200, roll.ToJsonString());
        Assert.Equal(1, (int?)roll["version"]);
    }

    [Fact]
    public async Task A_trainer_without_its_environment_fails_with_500_and_its_exit_code()
    {
        var (status, body, _) = await PostAsync("/admin/train/e2e-nofoo", "{}");
        Assert.Equal(500, status);
        Assert.Equal("trainer failed (exit=1)", (string?)body["error"]);
        Assert.True(body.ContainsKey("logs_tail"));
    }

    [Fact]
    public async Task Train_then_roll_serves_the_new_version_behind_the_stable_endpoint()
    {
        var (status, body, _) = await PostAsync("/admin/train_then_roll/e2e-roll", "{}");

        Assert.True(status == 200, body.ToJsonString());
        Assert.True((bool?)body["rolled"]);
        Assert.Equal("production", (string?)body["alias"]);
        var publicUrl = (string)body["public_url"]!;
        Assert.True((int?)body["version"] >= 1);

        using var probe = new HttpClient();
        var ping = await probe.GetAsync($"{publicUrl.TrimEnd('/')}/ping");
        Assert.Equal(HttpStatusCode.OK, ping.StatusCode);

        var statusDoc = await GetAsync("/status?name=e2e-roll");
        Assert.True((bool?)statusDoc["active"]);
        Assert.True((bool?)statusDoc["healthy"]);
        Assert.Equal("e2e-roll", (string?)statusDoc["model_name"]);
        Assert.Equal((int?)body["version"], (int?)statusDoc["model_version"]);

        var (byAlias, alias, _) = await PostAsync("/admin/roll", """{"name": "e2e-roll", "ref": "@production"}""");
        Assert.True(byAlias == 200, alias.ToJsonString());
        Assert.Equal((int?)body["version"], (int?)alias["version"]);

        var (unknownAlias, _, _) = await PostAsync("/admin/roll", """{"name": "e2e-roll", "ref": "@nope"}""");
        Assert.Equal(404, unknownAlias);
        var (unknownVersion, _, _) = await PostAsync("/admin/roll", """{"name": "e2e-roll", "ref": "99"}""");
        Assert.Equal(404, unknownVersion);
        var (badRef, problem, _) = await PostAsync("/admin/roll", """{"name": "e2e-roll", "ref": "latest"}""");
        Assert.Equal(400, badRef);
        Assert.Equal("ref must be '@alias' or integer version", (string?)problem["error"]);
    }

    [Fact]
    public async Task Rollback_toggles_between_the_two_latest_versions()
    {
        var (s1, first, _) = await PostAsync("/admin/train_then_roll/e2e-toggle", "{}");
        var (s2, second, _) = await PostAsync("/admin/train_then_roll/e2e-toggle", "{}");
        Assert.True(s1 == 200 && s2 == 200, first.ToJsonString() + second.ToJsonString());
        var v1 = (int)first["version"]!;
        var v2 = (int)second["version"]!;
        Assert.NotEqual(v1, v2);

        var (r1, back, _) = await PostAsync("/admin/rollback", """{"name": "e2e-toggle"}""");
        Assert.True(r1 == 200, back.ToJsonString());
        Assert.Equal(v1, (int?)back["version"]);
        var (r2, forth, _) = await PostAsync("/admin/rollback", """{"name": "e2e-toggle"}""");
        Assert.True(r2 == 200, forth.ToJsonString());
        Assert.Equal(v2, (int?)forth["version"]);

        var history = await GetAsync("/admin/deployments?name=e2e-toggle");
        Assert.True(history["deployments"]!.AsArray().Count >= 4);
    }

    [Fact]
    public async Task Async_train_idempotency_and_cancel()
    {
        var key = Guid.NewGuid().ToString();
        var (status, body, response) = await PostAsync("/admin/train/e2e-slow", "{}", r =>
        {
            Async(r);
            r.Headers.Add("Idempotency-Key", key);
        });
        Assert.Equal(202, status);
        var jobId = (string)body["job_id"]!;
        Assert.Equal($"/admin/jobs/{jobId}", response.Headers.Location?.OriginalString);
        var (_, again, _) = await PostAsync("/admin/train/e2e-slow", "{}", r =>
        {
            Async(r);
            r.Headers.Add("Idempotency-Key", key);
        });
        Assert.Equal(jobId, (string?)again["job_id"]);

        await TestInfra.WaitUntilAsync(async () => (string?)(await GetAsync($"/admin/jobs/{jobId}"))["state"] == "running",
            TimeSpan.FromSeconds(60), "the slow trainer to start");
        using var cancel = await Http.DeleteAsync($"/admin/jobs/{jobId}");
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.Equal("cancelled", (string?)(await GetAsync($"/admin/jobs/{jobId}"))["state"]);

        // The runner stopped it: it no longer lists the job.
        await TestInfra.WaitUntilAsync(async () => !(await Http.GetStringAsync("/runner/status")).Contains(jobId, StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the runner to stop the cancelled job");
        var jobs = await GetAsync("/admin/jobs?trainer=e2e-slow");
        Assert.Single(jobs["jobs"]!.AsArray());
    }

    [Fact]
    public async Task Bad_requests_get_problem_json_naming_the_problem()
    {
        using var anonymous = new HttpClient { BaseAddress = new Uri(fixture.BaseUrl) };
        using var unauthorized = await anonymous.PostAsync("/admin/train/e2e-plain", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);

        var (tooLarge, _, large) = await PostAsync("/admin/train/e2e-plain", "{\"x\":\"" + new string('a', 1100 * 1024) + "\"}");
        Assert.Equal(413, tooLarge);
        Assert.Equal("application/problem+json", large.Content.Headers.ContentType?.MediaType);

        var (malformed, body, _) = await PostAsync("/admin/train/e2e-plain", "{\"wait_seconds\": ");
        Assert.Equal(400, malformed);
        Assert.Equal("body", (string?)body["field"]);
        var (wrongType, typed, _) = await PostAsync("/admin/train/e2e-plain", "{\"wait_seconds\": \"10\"}");
        Assert.Equal(400, wrongType);
        Assert.Equal("wait_seconds", (string?)typed["field"]);
    }

    [Fact]
    public async Task A_spec_file_with_a_syntax_error_is_reported_and_the_other_trainers_keep_working()
    {
        var broken = Path.Combine(fixture.SpecsDir, "20-broken.yaml");
        await File.WriteAllTextAsync(broken, "e2e-extra:\n  trainer_image: process\n  env: {A: 1\n");
        JsonObject trainers = [];
        await TestInfra.WaitUntilAsync(async () =>
        {
            trainers = await GetAsync("/admin/trainers");
            return trainers["errors"]!.AsArray().Any(e => (string?)e!["file"] == broken);
        }, TimeSpan.FromSeconds(20), "the broken spec to be reported");
        var error = trainers["errors"]!.AsArray().First(e => (string?)e!["file"] == broken)!;
        Assert.InRange((int)error["line"]!, 3, 4);
        Assert.NotNull(trainers["trainers"]!["e2e-plain"]);

        var (status, _, _) = await PostAsync("/admin/train/e2e-nofoo", "{\"parameters\": {\"FOO\": \"bar\"}}");
        Assert.Equal(200, status);
        File.Delete(broken);
    }
}
