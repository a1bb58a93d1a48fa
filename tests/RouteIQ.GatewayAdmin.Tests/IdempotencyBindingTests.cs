using System.Net;
using System.Text.Json.Nodes;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// Issue 15 §5: an Idempotency-Key binds the method, route and body it first came with. The same
/// request returns the first job; another route or body with the key is a 422 (a roll request used
/// to get a train job back); a key over 200 characters is a 400, not silently ignored.
/// </summary>
[Trait("Category", "Integration")]
public sealed class IdempotencyBindingTests(LedgerFixture fixture) : IClassFixture<LedgerFixture>
{
    private AdminTestHost Host => fixture.Host;

    private static Action<HttpRequestMessage> With(string key) => r =>
    {
        r.Headers.Add("Prefer", "respond-async");
        r.Headers.Add("Idempotency-Key", key);
    };

    [Fact]
    public async Task TheSameRequestReturnsTheFirstJobEvenWithOtherWhitespaceAndKeyOrder()
    {
        var key = "same-" + Guid.NewGuid().ToString("N");

        var first = await Host.PostAsync("/admin/train/knn", """{"parameters":{"EPOCHS":2,"K":5}}""", With(key));
        var second = await Host.PostAsync("/admin/train/knn", """ { "parameters" : { "K":5, "EPOCHS":2 } } """, With(key));

        Assert.Equal(202, first.Status);
        Assert.Equal(202, second.Status);
        Assert.Equal((string?)first.Body["job_id"], (string?)second.Body["job_id"]);
    }

    [Fact]
    public async Task ADifferentBodyWithTheSameKeyIs422()
    {
        var key = "body-" + Guid.NewGuid().ToString("N");

        var first = await Host.PostAsync("/admin/train/knn", """{"parameters":{"EPOCHS":2}}""", With(key));
        var second = await Host.PostAsync("/admin/train/knn", """{"parameters":{"EPOCHS":3}}""", With(key));

        Assert.Equal(202, first.Status);
        Assert.Equal(422, second.Status);
        Assert.Equal("Idempotency-Key", (string?)second.Body["field"]);
        Assert.Equal((string?)first.Body["job_id"], (string?)second.Body["job_id"]);
    }

    [Fact]
    public async Task ARollWithATrainRequestsKeyIs422NotTheTrainJob()
    {
        var key = "route-" + Guid.NewGuid().ToString("N");

        var train = await Host.PostAsync("/admin/train/knn", new { }, With(key));
        var roll = await Host.PostAsync("/admin/roll", new { name = "knn-router", @ref = 1 }, With(key));
        var thenRoll = await Host.PostAsync("/admin/train_then_roll/knn", new { }, With(key));

        Assert.Equal(202, train.Status);
        Assert.Equal(422, roll.Status);
        Assert.Equal("train", (string?)roll.Body["kind"]);
        Assert.Equal(422, thenRoll.Status);
    }

    [Fact]
    public async Task AnOverLongKeyIs400AndCreatesNoJob()
    {
        var before = await JobCountAsync();

        var response = await Host.PostAsync("/admin/train/knn", new { }, With(new string('k', 201)));

        Assert.Equal(400, response.Status);
        Assert.Equal("Idempotency-Key", (string?)response.Body["field"]);
        Assert.Equal(before, await JobCountAsync());
    }

    [Fact]
    public async Task AKeyOfExactlyTwoHundredCharactersIsHonoured()
    {
        var key = Guid.NewGuid().ToString("N").PadRight(200, 'k');

        var first = await Host.PostAsync("/admin/roll", new { name = "knn-router", @ref = 1 }, With(key));
        var second = await Host.PostAsync("/admin/roll", new { name = "knn-router", @ref = 1 }, With(key));

        Assert.Equal((string?)first.Body["job_id"], (string?)second.Body["job_id"]);
    }

    private async Task<int> JobCountAsync()
    {
        using var response = await Host.Http.GetAsync("/admin/jobs?limit=1000");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["jobs"]!.AsArray().Count;
    }
}
