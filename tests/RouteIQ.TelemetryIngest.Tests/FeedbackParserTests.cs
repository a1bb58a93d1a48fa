using RouteIQ.TelemetryIngest.Parsing;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>A bad grade is rejected with a reason that names its field; a good one is normalised.</summary>
public sealed class FeedbackParserNamesTheRejectedFieldTests
{
    private static readonly FeedbackParser Parser = new(new TelemetryIngestOptions(), TimeProvider.System);
    private const string Id = "3f1c2a9e-6b1d-4c1e-9a4f-0d2b7e8c9a11";
    private const string Decision = "0a1b2c3d-6b1d-4c1e-9a4f-0d2b7e8c9a11";

    private static string Body(string fields)
        => "{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"source\":\"judge\",\"score\":0.5" + fields + "}";

    [Theory]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"decision_event_id\":\"" + Decision + "\",\"score\":0.5,\"source\":\"user\"}", "feedback_id: missing")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"not-a-uuid\",\"decision_event_id\":\"" + Decision + "\",\"score\":0.5,\"source\":\"user\"}", "feedback_id: expected a UUID")]
    [InlineData("{\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":0.5,\"source\":\"user\"}", "contract_name: missing")]
    [InlineData("{\"contract_name\":\"routeiq.router_decision.v1\",\"feedback_id\":\"" + Id + "\",\"score\":0.5,\"source\":\"user\"}", "contract_name: 'routeiq.router_decision.v1' is not routeiq.router_feedback.v1")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"score\":0.5,\"source\":\"user\"}", "decision_event_id: missing")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"score\":0.5,\"source\":\"user\"}", "decision_event_id: missing")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"source\":\"user\"}", "score: missing")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":0.5}", "source: missing")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":1.5,\"source\":\"user\"}", "score: must be in [0, 1] (got 1.5)")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":-0.1,\"source\":\"user\"}", "score: must be in [0, 1]")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":1e999,\"source\":\"user\"}", "score: not a finite number")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":\"NaN\",\"source\":\"user\"}", "score: expected a number in [0, 1], got a string")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":NaN,\"source\":\"user\"}", "malformed JSON")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":0.5,\"source\":\"robot\"}", "source: unknown value 'robot'")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"contract_version\":\"v2\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":0.5,\"source\":\"user\"}", "contract_version: unsupported version 'v2'")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"trace_id\":\"xyz\",\"score\":0.5,\"source\":\"user\"}", "trace_id: expected 32 hex characters")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":0.5,\"source\":\"user\",\"timestamp_unix_ms\":-5}", "timestamp_unix_ms: before 1970-01-01")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"decision_event_id\":\"" + Decision + "\",\"score\":0.5,\"source\":\"user\",\"custom_attributes\":[1]}", "custom_attributes: expected an object")]
    [InlineData("[1,2]", "expected a JSON object")]
    [InlineData("{\"contract_name\":\"routeiq.router_feedback.v1\"", "malformed JSON")]
    public void BadGradesAreRejectedNamingTheField(string json, string reason)
    {
        var result = Parser.Parse(json, new DecisionContext(IngestSources.Http));

        Assert.False(result.IsAccepted);
        Assert.StartsWith(reason, result.Reason);
    }

    [Fact]
    public void AGoodGradeIsNormalisedAndKeepsItsExtras()
    {
        var result = Parser.Parse(Body(",\"model_name\":\"gpt-4o\",\"rubric\":\"helpfulness\",\"custom_attributes\":{\"reviewer\":\"r-1\"},\"new_key\":7")
            .Replace(Decision, Decision.ToUpperInvariant(), StringComparison.Ordinal), new DecisionContext(IngestSources.Bus));

        var grade = Assert.IsType<RouterFeedback>(result.Feedback);
        Assert.Null(result.Decision);
        Assert.Equal(Id, grade.FeedbackId);
        Assert.Equal(Decision, grade.DecisionEventId);
        Assert.Equal("gpt-4o", grade.ModelName);
        Assert.Equal(0.5, grade.Score);
        Assert.Equal("judge", grade.Source);
        Assert.Equal("helpfulness", grade.Rubric);
        Assert.Equal("v1", grade.ContractVersion);
        Assert.Equal("bus", grade.IngestSource);
        Assert.Contains("\"reviewer\":\"r-1\"", grade.AttributesJson);
        Assert.Contains("\"new_key\":7", grade.AttributesJson);
    }

    [Fact]
    public void AGradeWithoutAKeyOfItsOwnGradesTheSpanItRidesOn()
    {
        var json = "{\"contract_name\":\"routeiq.router_feedback.v1\",\"feedback_id\":\"" + Id + "\",\"score\":1,\"source\":\"user\"}";
        var result = Parser.Parse(json, new DecisionContext(IngestSources.Otlp, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 1_700_000_000_000));

        var grade = Assert.IsType<RouterFeedback>(result.Feedback);
        Assert.Null(grade.DecisionEventId);
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", grade.TraceId);
        Assert.Equal("00f067aa0ba902b7", grade.SpanId);
        Assert.Equal(1_700_000_000_000, grade.TimestampMs);
    }

    [Fact]
    public void OnlyATopLevelFeedbackContractNameMakesAnEventAGrade()
    {
        Assert.True(FeedbackParser.IsFeedback("{\"a\":{\"b\":1},\"contract_name\":\"routeiq.router_feedback.v1\"}"u8));
        Assert.False(FeedbackParser.IsFeedback("{\"contract_name\":\"routeiq.router_decision.v1\",\"custom_attributes\":{\"contract_name\":\"routeiq.router_feedback.v1\"}}"u8));
        Assert.False(FeedbackParser.IsFeedback("{\"contract_name\":\"routeiq.router_decision.v1\"}"u8));
    }
}
