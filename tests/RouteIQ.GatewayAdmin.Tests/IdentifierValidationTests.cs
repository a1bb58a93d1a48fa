using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// Issue 15 §5 at the admin API: hostile identifiers (<c>../../../etc</c>, a trailing newline,
/// <c>%2e%2e</c>) are a 400 naming the field before any job exists, and a body that is not UTF-8
/// is a 400 problem+json, never a 500 with an empty body.
/// </summary>
[Trait("Category", "Integration")]
public sealed class IdentifierValidationTests(LedgerFixture fixture) : IClassFixture<LedgerFixture>
{
    private AdminTestHost Host => fixture.Host;

    [Theory]
    [InlineData("../../../etc")]
    [InlineData("abc\n")]
    [InlineData("%2e%2e/%2e%2e/etc")]
    [InlineData("a/../../b")]
    [InlineData("s3://bucket/../../x")]
    [InlineData("/data/../../etc")]
    public async Task AHostileDatasetIs400NamingTheField(string dataset)
    {
        var (status, body, _) = await Host.PostAsync("/admin/train/knn", new { dataset }, r => r.Headers.Add("Prefer", "respond-async"));

        Assert.Equal(400, status);
        Assert.Equal("dataset", (string?)body["field"]);
    }

    [Theory]
    [InlineData("name", "../knn")]
    [InlineData("name", "knn-router\n")]
    [InlineData("alias", "prod\n")]
    [InlineData("alias", "../x")]
    public async Task AHostileRollIdentifierIs400NamingTheField(string field, string value)
    {
        var request = new JsonObject { ["name"] = "knn-router", ["ref"] = 1, [field] = value };

        var (status, body, _) = await Host.PostAsync("/admin/roll", request.ToJsonString(), r => r.Headers.Add("Prefer", "respond-async"));

        Assert.Equal(400, status);
        Assert.Equal(field, (string?)body["field"]);
    }

    [Fact]
    public async Task AnAliasRefWithANewlineIs400()
    {
        var (status, body, _) = await Host.PostAsync("/admin/roll", """{"name":"knn-router","ref":"@prod\n"}""");

        Assert.Equal(400, status);
        Assert.Equal("ref", (string?)body["field"]);
    }

    [Theory]
    [InlineData("/admin/train/knn")]
    [InlineData("/admin/roll")]
    [InlineData("/admin/rollback")]
    [InlineData("/admin/evaluations")]
    public async Task AnInvalidUtf8BodyIs400ProblemJson(string path)
    {
        using var content = new ByteArrayContent([.. "{\"dataset\":\"ab"u8, 0xFF, 0xFE, .. "\",\"name\":\"x"u8, 0xC3, 0x28, .. "\"}"u8]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await Host.Http.PostAsync(path, content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("body", (string?)body["field"]);
    }

    [Theory]
    [InlineData("/admin/models/{0}/routing-config", "name")]
    [InlineData("/admin/evaluations?model={0}", "model")]
    public async Task AHostileModelNameInALookupIs400NamingTheField(string template, string field)
    {
        foreach (var name in new[] { "..%2F..%2Fetc", "knn-router%0A", "a%20b", "x%3Bdrop" })
        {
            var (status, body) = await Host.GetAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, template, name));

            Assert.True(status == 400, $"{name}: {status} {body.ToJsonString()}");
            Assert.Equal(field, (string?)body["field"]);
        }
    }

    [Fact]
    public async Task AHostileModelNameInAnEvaluationRequestIs400NamingTheField()
    {
        var (status, body, _) = await Host.PostAsync("/admin/evaluations", """{"model":"../../etc","dataset":"d1"}""");

        Assert.Equal(400, status);
        Assert.Equal("model", (string?)body["field"]);
    }
}
