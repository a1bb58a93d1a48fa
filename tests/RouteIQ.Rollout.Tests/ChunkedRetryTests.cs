using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Rollouts;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>
/// A request whose body has no declared length (chunked) is buffered up to 64 KiB, so a failing
/// candidate's answer is retried on the baseline as for a declared body; a longer one streams
/// once and the candidate's answer stands.
/// </summary>
[Collection("promotion")]
[Trait("Category", "Integration")]
public sealed class ChunkedBodiesAreRetriedOnTheBaselineTests(PromotionFixture fixture)
{
    private RolloutTestHost Host => fixture.Host;

    [Fact]
    public async Task A_small_chunked_request_to_a_failing_candidate_is_answered_200_by_the_baseline_and_a_chunked_body_over_64_KiB_is_not_replayed()
    {
        const string model = "canary-chunked";
        var (v1, v2) = await PromotionTestKit.ProductionAndCandidateAsync(Host, model);
        // Every request goes to a candidate that fails them all; min_requests is never reached, so the step stays.
        var promotion = new Promotion
        {
            Canary = new PromotionCanary { Steps = [100], StepSeconds = 600, MinRequests = 100_000, MaxErrorRate = 0.01, MaxStepSeconds = 6000 },
        };
        var job = await PromotionTestKit.PublishRollAsync(Host, model, v2, promotion, serveCommand: FastTestServer.Command(failShare: 1));
        await TestInfra.WaitUntilAsync(() => Task.FromResult(fixture.Events.Steps.Any(s => s.RolloutId == job && s.State == RolloutStates.Canary)),
            TimeSpan.FromSeconds(90), "the canary split in effect");

        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(Host.PublicUrl), Timeout = TimeSpan.FromSeconds(20) };
        const int small = 20;
        for (var i = 0; i < small; i++)
        {
            using var response = await SendChunkedAsync(http, model, $"{{\"query\":\"chunked {i}\"}}");
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"chunked request {i}: {(int)response.StatusCode} {text}");
            Assert.Equal(v1.ToString(), Assert.Single(response.Headers.GetValues("X-RouteIQ-Model-Version")));
            Assert.Equal(v1, JsonDocument.Parse(text).RootElement.GetProperty("version").GetInt32());
        }
        // Over 64 KiB: streamed once to the candidate, whose 500 reaches the client (no copy to replay).
        using (var large = await SendChunkedAsync(http, model, $"{{\"query\":\"{new string('x', 70 * 1024)}\"}}"))
        {
            Assert.Equal(HttpStatusCode.InternalServerError, large.StatusCode);
            Assert.Equal(v2.ToString(), Assert.Single(large.Headers.GetValues("X-RouteIQ-Model-Version")));
        }

        // The candidate's failures were counted against it and retried on the baseline.
        await PromotionTestKit.WaitStateAsync(Host, job, r => Candidate(r.StatsJson) is { } c && c["requests"]!.GetValue<long>() >= small + 1,
            "the candidate's numbers to show the chunked requests");
        var candidate = Candidate((await PromotionTestKit.RecordAsync(Host, job))!.StatsJson)!;
        Assert.Equal(small + 1, candidate["errors"]!.GetValue<long>());
        Assert.Equal(small, candidate["retried_on_baseline"]!.GetValue<long>());

        var control = await Host.RequestAsync<ControlRollout, RolloutDocuments>(new ControlRollout { RolloutId = job, Action = "abort" });
        Assert.Equal(200, control.StatusCode);
        Assert.IsType<RollFailed>(await Host.Outcomes.WaitAsync(job, TimeSpan.FromSeconds(60)));
        Assert.Equal(v1, await Host.InvokeAsync(model));
    }

    private static Task<HttpResponseMessage> SendChunkedAsync(HttpClient http, string model, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/{model}/invocations")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        // No Content-Length: the body goes chunked, as JSON exporters that stream it send it.
        request.Headers.TransferEncodingChunked = true;
        return http.SendAsync(request);
    }

    private static JsonObject? Candidate(string? statsJson)
        => statsJson is null ? null : JsonNode.Parse(statsJson)?["candidate"]?.AsObject();
}
