using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// Secrets never show in <c>/admin/trainers</c> or job documents, whether they hide behind a
/// name (<c>*PASSWD*</c>, <c>*_PAT</c>, <c>*CREDENTIALS*</c>) or inside a value (a URL's
/// <c>user:pass@</c>, a <c>Password=</c> pair).
/// </summary>
[Trait("Category", "Integration")]
public sealed class SecretRedactionTests(LedgerFixture fixture) : IClassFixture<LedgerFixture>
{
    private static readonly string[] Secrets = ["pw-passwd-1", "pat-value-2", "cred-value-3", "url-pass-4", "conn-pass-5", "param-url-pass-6", "param-pat-7"];

    [Fact]
    public async Task Names_and_values_that_carry_credentials_are_redacted_in_trainers_and_job_documents()
    {
        await File.WriteAllTextAsync(Path.Combine(fixture.SpecsDir, "90-leaky.yaml"), """
            leaky:
              trainer_image: routeiq/t
              env:
                FAKE: hang
                DB_PASSWD: pw-passwd-1
                GITHUB_PAT: pat-value-2
                GOOGLE_APPLICATION_CREDENTIALS: cred-value-3
                HTTPS_PROXY: "http://user:url-pass-4@proxy.internal:3128"
                WAREHOUSE: "Host=db;Username=u;Password=conn-pass-5"
            """);
        string trainers = "";
        await TestInfra.WaitUntilAsync(async () =>
        {
            trainers = await fixture.Host.Http.GetStringAsync("/admin/trainers");
            return trainers.Contains("\"leaky\"", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(30), "the leaky spec to load");
        Assert.All(Secrets, s => Assert.DoesNotContain(s, trainers));
        Assert.Contains("proxy.internal:3128", trainers);

        var (status, body, _) = await fixture.Host.PostAsync("/admin/train/leaky", new
        {
            parameters = new Dictionary<string, string> { ["MIRROR"] = "https://bot:param-url-pass-6@mirror.internal/", ["REPO_PAT"] = "param-pat-7" },
        }, r => r.Headers.Add("Prefer", "respond-async"));
        Assert.Equal(202, status);
        var job = await fixture.Host.Http.GetStringAsync($"/admin/jobs/{body["job_id"]}");
        Assert.All(Secrets, s => Assert.DoesNotContain(s, job));
        Assert.Contains("mirror.internal", job);
        var jobs = await fixture.Host.Http.GetStringAsync("/admin/jobs?trainer=leaky");
        Assert.All(Secrets, s => Assert.DoesNotContain(s, jobs));
    }
}

/// <summary>Unauthenticated <c>/status</c> and <c>/health/ready</c> name no paths (data dir, spec files, model URIs).</summary>
[Trait("Category", "Integration")]
public sealed class StatusDetailsTests(LedgerFixture fixture) : IClassFixture<LedgerFixture>
{
    [Fact]
    public async Task Paths_show_only_with_a_valid_admin_key()
    {
        using var anonymous = new HttpClient { BaseAddress = new Uri(fixture.Host.BaseUrl) };
        using var wrongKey = new HttpClient { BaseAddress = new Uri(fixture.Host.BaseUrl) };
        wrongKey.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-key");

        foreach (var client in new[] { anonymous, wrongKey })
        {
            var status = JsonNode.Parse(await client.GetStringAsync("/status"))!;
            Assert.True((bool?)status["active"]);
            Assert.Null(status["model_uri"]);
            Assert.Null(status["url"]);
            using var ready = await client.GetAsync("/health/ready");
            var health = await ready.Content.ReadAsStringAsync();
            Assert.Contains("\"checks\"", health);
            Assert.DoesNotContain(fixture.SpecsDir, health);
            Assert.DoesNotContain("/tmp/", health);
        }

        var full = JsonNode.Parse(await fixture.Host.Http.GetStringAsync("/status"))!;
        Assert.StartsWith("file:///tmp/registry/", (string?)full["model_uri"]);
        using var adminReady = await fixture.Host.Http.GetAsync("/health/ready");
        Assert.Contains(fixture.SpecsDir, await adminReady.Content.ReadAsStringAsync());
    }
}

/// <summary>The OpenAPI document declares how to authenticate, so its UI (Scalar) can send a key.</summary>
[Trait("Category", "Integration")]
public sealed class OpenApiSecuritySchemeTests(LedgerFixture fixture) : IClassFixture<LedgerFixture>
{
    [Fact]
    public async Task The_document_declares_bearer_and_x_api_key_schemes_and_requires_one()
    {
        using var response = await fixture.Host.Http.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var doc = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        var schemes = doc["components"]!["securitySchemes"]!.AsObject();
        var bearer = schemes["Bearer"]!;
        Assert.Equal("http", (string?)bearer["type"]);
        Assert.Equal("bearer", (string?)bearer["scheme"]);
        var apiKey = schemes["ApiKey"]!;
        Assert.Equal("apiKey", (string?)apiKey["type"]);
        Assert.Equal("header", (string?)apiKey["in"]);
        Assert.Equal("X-API-Key", (string?)apiKey["name"]);
        var required = doc["security"]!.AsArray().SelectMany(r => r!.AsObject().Select(p => p.Key)).ToList();
        Assert.Contains("Bearer", required);
        Assert.Contains("ApiKey", required);
    }
}
