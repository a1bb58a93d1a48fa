using System.Text.Json;
using RouteIQ.GatewayAdmin.Api;

namespace RouteIQ.GatewayAdmin.Tests;

public sealed class RequestBodiesTests
{
    [Theory]
    [InlineData("\"@production\"", "@production")]
    [InlineData("\"@canary-2\"", "@canary-2")]
    [InlineData("3", "3")]
    [InlineData("\"3\"", "3")]
    [InlineData("\" 12 \"", "12")]
    [InlineData("\"@\"", null)]
    [InlineData("\"latest\"", null)]
    [InlineData("\"3.5\"", null)]
    [InlineData("3.5", null)]
    [InlineData("0", null)]
    [InlineData("-1", null)]
    [InlineData("true", null)]
    [InlineData("null", null)]
    [InlineData("[1]", null)]
    public void Ref_is_an_alias_or_an_integer_version(string json, string? expected)
        => Assert.Equal(expected, RequestBodies.NormalizeRef(JsonDocument.Parse(json).RootElement));

    [Theory]
    [InlineData("""{"wait_seconds":"10"}""", "wait_seconds")]
    [InlineData("""{"wait_seconds":1.5}""", "wait_seconds")]
    [InlineData("""{"image_key":5}""", "image_key")]
    [InlineData("""{"parameters":[1,2]}""", "parameters")]
    [InlineData("""{"parameters":"A=1"}""", "parameters")]
    public void Wrong_types_in_a_train_body_name_the_field(string json, string field)
    {
        var (body, problem) = RequestBodies.ParseTrain(JsonDocument.Parse(json).RootElement);
        Assert.Null(body);
        Assert.NotNull(problem);
        var status = Assert.IsAssignableFrom<IStatusCodeHttpResult>(problem);
        Assert.Equal(400, status.StatusCode);
        var value = Assert.IsAssignableFrom<IValueHttpResult>(problem);
        Assert.Contains($"\"field\":\"{field}\"", JsonSerializer.Serialize(value.Value));
    }

    [Theory]
    [InlineData("""{"ref":"@prod"}""", "name")]
    [InlineData("""{"name":"m"}""", "ref")]
    [InlineData("""{"name":"m","ref":"latest"}""", "ref")]
    [InlineData("""{"name":7,"ref":1}""", "name")]
    [InlineData("""{"name":"m","ref":1,"wait_ready_seconds":0}""", "wait_ready_seconds")]
    [InlineData("""{"name":"m","ref":1,"wait_ready_seconds":901}""", "wait_ready_seconds")]
    [InlineData("""{"name":"m","ref":1,"wait_ready_seconds":"9"}""", "wait_ready_seconds")]
    [InlineData("""{"name":"m","ref":1,"serve_image":false}""", "serve_image")]
    public void Roll_bodies_are_validated_naming_the_field(string json, string field)
    {
        var (body, problem) = RequestBodies.ParseRoll(JsonDocument.Parse(json).RootElement, rollback: false);
        Assert.Null(body);
        var value = Assert.IsAssignableFrom<IValueHttpResult>(problem);
        Assert.Contains($"\"field\":\"{field}\"", JsonSerializer.Serialize(value.Value));
    }

    [Fact]
    public void Roll_defaults_wait_ready_seconds_to_90()
    {
        var (body, _) = RequestBodies.ParseRoll(JsonDocument.Parse("""{"name":"m","ref":"2"}""").RootElement, rollback: false);
        Assert.Equal(90, body!.WaitReadySeconds);
        Assert.Equal("2", body.Ref);
        var (rollback, problem) = RequestBodies.ParseRoll(null, rollback: true);
        Assert.Null(problem);
        Assert.Equal(90, rollback!.WaitReadySeconds);
    }

    [Fact]
    public void Secret_looking_parameters_are_redacted_in_the_stored_request()
    {
        var stored = RequestBodies.Redacted(JsonDocument.Parse("""{"parameters":{"API_KEY":"s3cr3t","DB_PASSWORD":"p","LR":0.1,"MY_TOKEN":null}}""").RootElement);
        var text = stored.ToJsonString();
        Assert.DoesNotContain("s3cr3t", text);
        Assert.DoesNotContain("\"p\"", text);
        Assert.Contains("0.1", text);
        Assert.Null(stored["parameters"]!["MY_TOKEN"]);
    }
}
