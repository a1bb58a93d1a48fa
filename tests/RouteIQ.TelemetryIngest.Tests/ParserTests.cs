using System.Text;
using RouteIQ.TelemetryIngest.Parsing;

namespace RouteIQ.TelemetryIngest.Tests;

public sealed class ParserTests
{
    private static readonly DecisionParser Parser = new(new TelemetryIngestOptions(), TimeProvider.System);
    private static readonly DecisionParser TextParser = new(new TelemetryIngestOptions { StoreQueryText = true }, TimeProvider.System);

    private const string Example = """
        {"contract_version":"v1","contract_name":"routeiq.router_decision.v1",
         "event_id":"3F1C2A9E-6B1D-4C1E-9A4F-0D2B7E8C9A11",
         "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":null,
         "timestamp_utc":"2026-01-15T10:30:00.000Z","timestamp_unix_ms":1768473000000,
         "input":{"requested_model":"gpt-4","query_length":150,"user_id":"u-9f2","team_id":null,
                  "api_type":"chat_completion","request_metadata":{"tier":"gold"}},
         "strategy_name":"llmrouter-knn","strategy_version":"a1b2c3d4e5f60718",
         "candidate_deployments":[{"model_name":"gpt-4","provider":"openai","score":0.95,"available":true},
                                  {"model_name":"claude-3-opus","provider":"anthropic","score":0.82,"available":true}],
         "selected_deployment":"gpt-4","selection_reason":"ab_test",
         "experiment":{"experiment_id":"routing-v2","variant":"treatment","strategy_name":"llmrouter-knn",
                       "strategy_version":"a1b2c3d4e5f60718","weight":10,"total_weight":100,"hash_bucket":7,
                       "hash_key_type":"user"},
         "timings":{"total_ms":15.5,"strategy_ms":10.2,"embedding_ms":3.1,"candidate_filter_ms":2.2},
         "outcome":{"status":"success","error_message":null,"error_type":null,"input_tokens":100,
                    "output_tokens":200,"total_tokens":300,"api_type":"chat_completion"},
         "fallback":{"fallback_triggered":false,"original_model":null,"fallback_reason":null,"fallback_attempt":0},
         "custom_attributes":{"query_text":"hello there","region":"eu"},
         "gateway_build":"2026.1"}
        """;

    private static ParseResult Parse(string json, DecisionParser? parser = null)
        => (parser ?? Parser).Parse(Encoding.UTF8.GetBytes(json), new DecisionContext(IngestSources.Bus));

    [Fact]
    public void TheContractExampleIsAcceptedWithEveryField()
    {
        var result = Parse(Example);

        Assert.True(result.IsAccepted, result.Reason);
        var d = result.Decision!;
        Assert.Equal("3f1c2a9e-6b1d-4c1e-9a4f-0d2b7e8c9a11", d.EventId);
        Assert.Equal(1768473000000, d.TimestampMs);
        Assert.Equal("gpt-4", d.SelectedDeployment);
        Assert.Equal(150, d.QueryLength);
        Assert.Equal(2, d.CandidateCount);
        Assert.Equal("routing-v2", d.ExperimentId);
        Assert.Equal(15.5, d.TotalMs);
        Assert.Equal("success", d.OutcomeStatus);
        Assert.Equal(300, d.TotalTokens);
        Assert.Null(d.QueryText);
        Assert.Contains("\"gateway_build\":\"2026.1\"", d.AttributesJson);
        Assert.Contains("\"region\":\"eu\"", d.AttributesJson);
        Assert.Contains("\"tier\":\"gold\"", d.AttributesJson);
        Assert.DoesNotContain("hello there", d.AttributesJson);
    }

    [Fact]
    public void QueryTextIsKeptOnlyWhenConfigured()
    {
        Assert.Null(Parse(Example).Decision!.QueryText);
        Assert.Equal("hello there", Parse(Example, TextParser).Decision!.QueryText);
    }

    [Fact]
    public void NullsAndMissingObjectsTakeDefaults()
    {
        var result = Parse("""{"contract_name":"routeiq.router_decision.v1","event_id":"a0f4c1de-58a3-4f5b-9e7c-2a7ac8c1f0aa","input":null,"outcome":null,"timings":null,"custom_attributes":null}""");

        Assert.True(result.IsAccepted, result.Reason);
        Assert.Equal("v1", result.Decision!.ContractVersion);
        Assert.Null(result.Decision.OutcomeStatus);
    }

    [Theory]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",", "malformed JSON")]
    [InlineData("[1,2]", "expected a JSON object")]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",\"input\":{\"query_length\":\"150\"}}", "input.query_length: expected an integer, got a string")]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",\"timings\":{\"total_ms\":\"fast\"}}", "timings.total_ms: expected a number")]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",\"outcome\":{\"status\":\"exploded\"}}", "outcome.status: unknown value 'exploded'")]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",\"contract_version\":\"v2\"}", "contract_version: unsupported version 'v2'")]
    [InlineData("{\"contract_name\":\"something.else\"}", "contract_name")]
    [InlineData("{\"event_id\":\"x\"}", "contract_name: missing")]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",\"trace_id\":\"xyz\"}", "trace_id: expected 32 hex characters")]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",\"candidate_deployments\":[1]}", "candidate_deployments[0]: expected an object")]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",\"fallback\":{\"fallback_triggered\":\"yes\"}}", "fallback.fallback_triggered: expected a boolean")]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",\"input\":5}", "input: expected an object")]
    public void BadEventsAreRejectedWithAReasonNamingTheField(string json, string reason)
    {
        var result = Parse(json);

        Assert.False(result.IsAccepted);
        Assert.Contains(reason, result.Reason);
    }

    [Fact]
    public void ABadCandidateFieldIsNamedWithItsIndex()
    {
        var result = Parse("""{"contract_name":"routeiq.router_decision.v1","candidate_deployments":[{"model_name":"a","score":0.5},{"model_name":"b","score":"high"}]}""");

        Assert.False(result.IsAccepted);
        Assert.Equal("candidate_deployments[1].score: expected a number, got a string", result.Reason);
        Assert.Equal("candidate_deployments[0].provider: expected a string, got a number",
            Parse("""{"contract_name":"routeiq.router_decision.v1","candidate_deployments":[{"provider":7}]}""").Reason);
    }

    [Fact]
    public void EscapedAndLongNamesAndValuesReadAsTheirText()
    {
        var longKey = new string('k', 100);
        var result = Parse($$$"""
            {"contract_name":"routeiq.router_decision.v1","selected_deployment":"gpt\u002d4o",
             "outcome":{"st\u0061tus":"success","error_type":"{{{new string('e', 150)}}}"},
             "custom_attributes":{"{{{longKey}}}":1,"qu\u0065ry_text":"secret","re\u0067ion":"eu"}}
            """, TextParser);

        Assert.True(result.IsAccepted, result.Reason);
        var d = result.Decision!;
        Assert.Equal("gpt-4o", d.SelectedDeployment);
        Assert.Equal("success", d.OutcomeStatus);
        Assert.Equal(new string('e', 150), d.ErrorType);
        Assert.Equal("secret", d.QueryText);
        Assert.Contains($"\"{longKey}\":1", d.AttributesJson);
        Assert.Contains("\"region\":\"eu\"", d.AttributesJson);
        Assert.DoesNotContain("secret", d.AttributesJson);
    }

    [Fact]
    public void ReusedBuffersNeverCarryOneEventIntoTheNext()
    {
        var first = Parse("""{"contract_name":"routeiq.router_decision.v1","event_id":"e1","input":{"request_metadata":{"tier":"gold-first"}},"custom_attributes":{"region":"eu-first"}}""").Decision!;
        // Rejected half-way through a copied object: its partial copy must not leak either.
        Assert.False(Parse("""{"contract_name":"routeiq.router_decision.v1","custom_attributes":{"region":"partial","x":""").IsAccepted);
        var second = Parse("""{"contract_name":"routeiq.router_decision.v1","event_id":"e2","custom_attributes":{"zone":"b"}}""").Decision!;
        var third = Parse("""{"contract_name":"routeiq.router_decision.v1","event_id":"e3"}""").Decision!;

        Assert.Equal("""{"request_metadata":{"tier":"gold-first"},"custom_attributes":{"region":"eu-first"}}""", first.AttributesJson);
        Assert.Equal("""{"custom_attributes":{"zone":"b"}}""", second.AttributesJson);
        Assert.Null(third.AttributesJson);
        Assert.Equal(["e1", "e2", "e3"], new[] { first.EventId, second.EventId, third.EventId });
    }

    [Fact]
    public void ParsingOnManyThreadsAtOnceGivesEachEventItsOwnFields()
    {
        var generator = new SyntheticTelemetry(seed: 11);
        var events = Enumerable.Range(0, 2000).Select(i => generator.Event(i)).ToArray();
        var expected = events.Select(e => TextParser.Parse(e, new DecisionContext(IngestSources.Bus)).Decision!).ToArray();

        var parsed = new RouterDecision[events.Length];
        Parallel.For(0, events.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 },
            i => parsed[i] = TextParser.Parse(events[i], new DecisionContext(IngestSources.Bus)).Decision!);

        for (var i = 0; i < events.Length; i++)
        {
            Assert.Equal(expected[i].EventId, parsed[i].EventId);
            Assert.Equal(expected[i].SelectedDeployment, parsed[i].SelectedDeployment);
            Assert.Equal(expected[i].UserId, parsed[i].UserId);
            Assert.Equal(expected[i].QueryText, parsed[i].QueryText);
            Assert.Equal(expected[i].AttributesJson, parsed[i].AttributesJson);
        }
    }

    [Fact]
    public void AnEventOverOneMebibyteIsRejected()
    {
        var big = "{\"contract_name\":\"routeiq.router_decision.v1\",\"custom_attributes\":{\"pad\":\"" + new string('x', 1024 * 1024) + "\"}}";

        var result = Parse(big);

        Assert.Contains("over the 1 MiB limit", result.Reason);
    }

    [Fact]
    public void AnEventWithoutIdGetsTheSameDerivedIdEachTime()
    {
        const string json = """{"contract_name":"routeiq.router_decision.v1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","timestamp_unix_ms":5}""";

        Assert.Equal(Parse(json).Decision!.EventId, Parse(json).Decision!.EventId);
        Assert.True(Guid.TryParse(Parse(json).Decision!.EventId, out _));
    }

    [Fact]
    public void ALegacyRecordFromTheJaegerExtractorIsAccepted()
    {
        var result = Parse("""{"query":"Explain quantum computing","model_name":"claude-3-opus","response":"...","response_time":1.5,"token_num":300,"input_tokens":100,"output_tokens":200,"task_name":"production","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","timestamp":1768473000000000,"performance":null,"ground_truth":""}""", TextParser);

        Assert.True(result.IsAccepted, result.Reason);
        var d = result.Decision!;
        Assert.Equal(DecisionKinds.Legacy, d.Kind);
        Assert.Equal("claude-3-opus", d.SelectedDeployment);
        Assert.Equal("Explain quantum computing", d.QueryText);
        Assert.Equal(1500, d.TotalMs);
        Assert.Equal(1768473000000, d.TimestampMs);
    }

    [Fact]
    public void SyntheticEventsAreValidContractEvents()
    {
        var generator = new SyntheticTelemetry(seed: 7);
        for (var i = 0; i < 200; i++)
        {
            var result = TextParser.Parse(generator.Event(i), new DecisionContext(IngestSources.Bus));
            Assert.True(result.IsAccepted, result.Reason);
            Assert.Equal(generator.EventId(i), result.Decision!.EventId);
            Assert.NotNull(result.Decision.QueryText);
        }
    }
}
