using System.Text.Json;
using RouteIQ.GatewayAdmin.Specs;

namespace RouteIQ.GatewayAdmin.Tests;

public sealed class TrainRequestResolverTests
{
    private static readonly Dictionary<string, TrainerSpec> Specs = new()
    {
        ["full"] = new TrainerSpec
        {
            Name = "full", SourceFile = "s.yaml",
            TrainerImage = "trainer:default",
            ImageOptions = new Dictionary<string, string> { ["zeta"] = "trainer:zeta", ["alpha"] = "trainer:alpha", ["mid"] = "trainer:mid" },
            ServeImage = "server:default",
            ServeImageOptions = new Dictionary<string, string> { ["alpha"] = "server:alpha" },
            TimeoutSeconds = 600,
            Gpus = 2,
            Env = new Dictionary<string, string> { ["ROUTER_TYPE"] = "knn", ["KEEP"] = "1", ["DROP"] = "x" },
        },
        ["bare"] = new TrainerSpec { Name = "bare", SourceFile = "s.yaml" },
        ["named"] = new TrainerSpec { Name = "named", SourceFile = "s.yaml", TrainerImage = "t", ModelName = "the-model" },
    };

    private static TrainBody Body(string json)
    {
        var (body, problem) = Api.RequestBodies.ParseTrain(JsonDocument.Parse(json).RootElement.Clone());
        Assert.Null(problem);
        return body!;
    }

    private static Func<string, string?> Env(params (string Key, string Value)[] pairs)
        => name => pairs.FirstOrDefault(p => p.Key == name).Value;

    [Fact]
    public void Unknown_trainer_is_404_with_trainer_and_image_key()
    {
        var (resolved, error) = TrainRequestResolver.Resolve(Specs, "nope", Body("""{"image_key":"k"}"""), Env());
        Assert.Null(resolved);
        Assert.Equal(404, error!.StatusCode);
        Assert.Equal("trainer spec not found", error.Error);
        Assert.Equal("nope", error.Fields["trainer"]);
        Assert.Equal("k", error.Fields["image_key"]);
    }

    [Fact]
    public void Unknown_image_key_is_400_with_sorted_available_keys()
    {
        var (_, error) = TrainRequestResolver.Resolve(Specs, "full", Body("""{"image_key":"gpu"}"""), Env());
        Assert.Equal(400, error!.StatusCode);
        Assert.Equal("unknown trainer image key", error.Error);
        Assert.Equal(["alpha", "mid", "zeta"], (IEnumerable<string>)error.Fields["available_keys"]!);
        Assert.Equal("gpu", error.Fields["image_key"]);
    }

    public static TheoryData<string, string, string, string?, string?> ImageCases => new()
    {
        // trainer, body, expected image, expected image_key, expected serve image
        { "full", """{}""", "trainer:default", null, "server:default" },
        { "full", """{"image_key":""}""", "trainer:default", null, "server:default" },
        { "full", """{"image_key":null}""", "trainer:default", null, "server:default" },
        { "full", """{"image_key":"alpha"}""", "trainer:alpha", "alpha", "server:alpha" },
        { "full", """{"image_key":"zeta"}""", "trainer:zeta", "zeta", "server:default" },
        { "bare", """{}""", "env:trainer", null, "env:server" },
        { "named", """{}""", "t", null, "env:server" },
    };

    [Theory]
    [MemberData(nameof(ImageCases))]
    public void Image_and_serve_image_follow_the_fallback_order(string trainer, string body, string image, string? imageKey, string? serveImage)
    {
        var (resolved, error) = TrainRequestResolver.Resolve(Specs, trainer, Body(body),
            Env(("TRAINER_IMAGE", "env:trainer"), ("SERVE_IMAGE", "env:server")));
        Assert.Null(error);
        Assert.Equal(image, resolved!.Image);
        Assert.Equal(imageKey, resolved.ImageKey);
        Assert.Equal(serveImage, resolved.ServeImage);
    }

    [Fact]
    public void No_serve_image_anywhere_is_none()
    {
        var (resolved, _) = TrainRequestResolver.Resolve(Specs, "named", Body("{}"), Env());
        Assert.Null(resolved!.ServeImage);
    }

    [Fact]
    public void No_trainer_image_at_all_is_422_with_a_hint()
    {
        var (_, error) = TrainRequestResolver.Resolve(Specs, "bare", Body("{}"), Env());
        Assert.Equal(422, error!.StatusCode);
        Assert.Equal("trainer_image not configured", error.Error);
        Assert.Contains("TRAINER_IMAGE", (string)error.Fields["hint"]!);
    }

    public static TheoryData<string, string, (string, string)[], int?> TimeoutCases => new()
    {
        { "full", """{"wait_seconds":1}""", [], 1 },
        { "full", """{"wait_seconds":86400}""", [], 86400 },
        { "full", """{"wait_seconds":0}""", [], null },
        { "full", """{"wait_seconds":86401}""", [], null },
        { "full", """{"wait_seconds":-5}""", [], null },
        { "full", """{}""", [("TRAINER_TIMEOUT_SEC", "99")], 600 },
        { "named", """{}""", [("TRAINER_TIMEOUT_SEC", "99")], 99 },
        { "named", """{}""", [], 1800 },
    };

    [Theory]
    [MemberData(nameof(TimeoutCases))]
    public void Timeout_is_wait_seconds_then_spec_then_env_then_1800(string trainer, string body, (string, string)[] env, int? expected)
    {
        var (resolved, error) = TrainRequestResolver.Resolve(Specs, trainer, Body(body), Env(env));
        if (expected is null)
        {
            Assert.Equal(400, error!.StatusCode);
            Assert.Equal("wait_seconds", error.Fields["field"]);
            Assert.Contains("between 1 and 86400", error.Error);
        }
        else
        {
            Assert.Null(error);
            Assert.Equal(expected, resolved!.TimeoutSeconds);
        }
    }

    public static TheoryData<string, string?> ParameterValueCases => new()
    {
        { "\"text\"", "text" },
        { "\"\"", "" },
        { "42", "42" },
        { "-1.5", "-1.5" },
        { "1e3", "1e3" },
        { "true", "true" },
        { "false", "false" },
        { "[1, \"a\", true]", "[1,\"a\",true]" },
        { "{\"k\": [1, 2], \"é\": null}", "{\"k\":[1,2],\"é\":null}" },
        { "null", null },
    };

    [Theory]
    [MemberData(nameof(ParameterValueCases))]
    public void Parameter_values_become_environment_strings(string json, string? expected)
    {
        var (resolved, error) = TrainRequestResolver.Resolve(Specs, "full", Body("{\"parameters\":{\"P\":" + json + "}}"), Env());
        Assert.Null(error);
        Assert.Equal(expected, resolved!.Parameters["P"]);
        if (expected is null)
        {
            Assert.False(resolved.Environment.ContainsKey("P"));
        }
        else
        {
            Assert.Equal(expected, resolved.Environment["P"]);
        }
    }

    [Fact]
    public void Environment_is_spec_env_then_parameters_and_null_removes_a_spec_variable()
    {
        var (resolved, _) = TrainRequestResolver.Resolve(Specs, "full",
            Body("""{"parameters":{"ROUTER_TYPE":"mlp","DROP":null,"NEW":7}}"""), Env());

        Assert.Equal("mlp", resolved!.Environment["ROUTER_TYPE"]);
        Assert.Equal("1", resolved.Environment["KEEP"]);
        Assert.False(resolved.Environment.ContainsKey("DROP"));
        Assert.Equal("7", resolved.Environment["NEW"]);
        Assert.Equal(["ROUTER_TYPE", "DROP", "NEW"], resolved.Parameters.Keys);
        Assert.Null(resolved.Parameters["DROP"]);
    }

    [Theory]
    [InlineData("1ABC")]
    [InlineData("A-B")]
    [InlineData("A B")]
    [InlineData("")]
    [InlineData("É")]
    [InlineData("A=B")]
    public void Invalid_parameter_names_are_400_naming_the_key(string name)
    {
        var body = Body(JsonSerializer.Serialize(new { parameters = new Dictionary<string, int> { [name] = 1 } }));
        var (_, error) = TrainRequestResolver.Resolve(Specs, "full", body, Env());
        Assert.Equal(400, error!.StatusCode);
        Assert.Contains($"'{name}'", error.Error);
        Assert.Equal($"parameters.{name}", error.Fields["field"]);
    }

    [Theory]
    [InlineData("TRAINER_IMAGE")]
    [InlineData("trainer_image")]
    [InlineData("image")]
    [InlineData("IMAGE")]
    [InlineData("image_key")]
    public void The_image_cannot_be_changed_through_parameters(string name)
    {
        var body = Body("{\"parameters\":{\"" + name + "\":\"evil/image:latest\"}}");
        var (resolved, error) = TrainRequestResolver.Resolve(Specs, "full", body,
            Env(("TRAINER_IMAGE", "env:trainer")));
        Assert.Null(error);
        Assert.Equal("trainer:default", resolved!.Image);
        Assert.Null(resolved.ImageKey);
        Assert.Equal("server:default", resolved.ServeImage);

        // Even for a trainer that takes its image from the server's TRAINER_IMAGE.
        var (bare, _) = TrainRequestResolver.Resolve(Specs, "bare", body, Env(("TRAINER_IMAGE", "env:trainer")));
        Assert.Equal("env:trainer", bare!.Image);
    }

    [Fact]
    public void Model_name_is_spec_then_registered_model_name_after_overrides_then_trainer()
    {
        Assert.Equal("the-model", TrainRequestResolver.Resolve(Specs, "named", Body("""{"parameters":{"REGISTERED_MODEL_NAME":"x"}}"""), Env()).Resolved!.ModelName);
        Assert.Equal("override", TrainRequestResolver.Resolve(Specs, "full", Body("""{"parameters":{"REGISTERED_MODEL_NAME":"override"}}"""), Env()).Resolved!.ModelName);
        Assert.Equal("full", TrainRequestResolver.Resolve(Specs, "full", Body("{}"), Env()).Resolved!.ModelName);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("false", false)]
    [InlineData("False", false)]
    [InlineData("maybe", null)]
    public void Booleans_are_read_in_both_spellings(string text, bool? expected)
        => Assert.Equal(expected, TrainRequestResolver.ReadBoolean(text));

    [Fact]
    public void Gpus_and_resources_pass_through()
    {
        var (resolved, _) = TrainRequestResolver.Resolve(Specs, "full", Body("{}"), Env());
        Assert.Equal(2, resolved!.Gpus);
    }
}
