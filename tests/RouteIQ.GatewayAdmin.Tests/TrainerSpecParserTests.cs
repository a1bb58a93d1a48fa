using Microsoft.Extensions.Logging.Abstractions;
using RouteIQ.GatewayAdmin.Specs;

namespace RouteIQ.GatewayAdmin.Tests;

public sealed class TrainerSpecParserTests
{
    private static readonly Func<string, string?> NoEnv = _ => null;

    [Fact]
    public void Parses_every_key_of_a_yaml_trainer()
    {
        const string yaml = """
            knn:
              trainer_image: routeiq/router-trainer
              image_options: {cuda12: img:cuda12, cpu: img:cpu}
              serve_image: routeiq/router-server
              serve_image_options: {cuda12: srv:cuda12}
              timeout: 600
              gpus: "2"
              env: {ROUTER_TYPE: knn, K: 10, FLAG: true}
              model_name: knn-router
              command: [/bin/sh, -c, "echo hi"]
              serve_command: [/bin/busybox, httpd]
              dataset: datasets/abc
              auto_roll: true
              resources: {memory: 8g, cpus: 1.5}
            """;

        var result = TrainerSpecParser.Parse("a.yaml", yaml, NoEnv);

        Assert.Empty(result.Errors);
        var spec = Assert.Single(result.Trainers);
        Assert.Equal("knn", spec.Name);
        Assert.Equal(1, spec.Line);
        Assert.Equal("routeiq/router-trainer", spec.TrainerImage);
        Assert.Equal("img:cuda12", spec.ImageOptions["cuda12"]);
        Assert.Equal("srv:cuda12", spec.ServeImageOptions["cuda12"]);
        Assert.Equal(600, spec.TimeoutSeconds);
        Assert.Equal(2, spec.Gpus);
        Assert.Equal("10", spec.Env["K"]);
        Assert.Equal("true", spec.Env["FLAG"]);
        Assert.Equal("knn-router", spec.ModelName);
        Assert.Equal(["/bin/sh", "-c", "echo hi"], spec.Command!);
        Assert.Equal(["/bin/busybox", "httpd"], spec.ServeCommand!);
        Assert.Equal("datasets/abc", spec.Dataset);
        Assert.True(spec.AutoRoll);
        Assert.Equal(8L << 30, spec.Resources!.MemoryBytes);
        Assert.Equal(1.5, spec.Resources.Cpus);
    }

    [Theory]
    [InlineData("all", -1)]
    [InlineData("0", 0)]
    [InlineData("4", 4)]
    [InlineData("\"3\"", 3)]
    [InlineData("\"all\"", -1)]
    public void Gpus_accepts_all_integers_and_numeric_strings(string value, int expected)
    {
        var result = TrainerSpecParser.Parse("g.yaml", $"t:\n  trainer_image: x\n  gpus: {value}\n", NoEnv);
        Assert.Empty(result.Errors);
        Assert.Equal(expected, Assert.Single(result.Trainers).Gpus);
    }

    [Theory]
    [InlineData("t:\n  trainer_image: x\n  gpus: many\n", 3, "gpus")]
    [InlineData("t:\n  trainer_image: x\n  timeout: soon\n", 3, "timeout")]
    [InlineData("t:\n  trainer_image: x\n  colour: blue\n", 3, "unknown key 'colour'")]
    [InlineData("t:\n  trainer_image: x\n  command: echo\n", 3, "command")]
    [InlineData("t:\n  trainer_image: x\n  env: {BAD-NAME: 1}\n", 3, "BAD-NAME")]
    [InlineData("t:\n  trainer_image: x\n  resources: {memory: lots}\n", 3, "memory")]
    [InlineData("t:\n  trainer_image: [a, b]\n", 2, "trainer_image")]
    [InlineData("t: just-a-string\n", 1, "must be a map")]
    public void Validation_errors_name_file_line_and_reason(string yaml, int line, string reason)
    {
        var result = TrainerSpecParser.Parse("/specs/bad.yaml", yaml, NoEnv);

        Assert.Empty(result.Trainers);
        var error = Assert.Single(result.Errors);
        Assert.Equal("/specs/bad.yaml", error.File);
        Assert.Equal(line, error.Line);
        Assert.Contains(reason, error.Reason);
        Assert.StartsWith($"/specs/bad.yaml:{line}:", error.ToString());
    }

    [Fact]
    public void A_yaml_syntax_error_names_its_line()
    {
        const string yaml = "ok:\n  trainer_image: x\nbroken:\n  env: {A: 1\n  trainer_image: y\n";
        var result = TrainerSpecParser.Parse("s.yaml", yaml, NoEnv);
        var error = Assert.Single(result.Errors);
        Assert.Equal("s.yaml", error.File);
        Assert.InRange(error.Line, 4, 6);
        Assert.Empty(result.Trainers);
    }

    [Fact]
    public void Json_files_parse_and_report_syntax_errors_with_line()
    {
        const string json = "{\n\t\"j\": {\"trainer_image\": \"img\", \"gpus\": 1, \"env\": {\"A\": \"b\"}}\n}";
        var ok = TrainerSpecParser.Parse("x.json", json, NoEnv);
        Assert.Empty(ok.Errors);
        Assert.Equal(1, Assert.Single(ok.Trainers).Gpus);

        var bad = TrainerSpecParser.Parse("x.json", "{\n  \"j\": {\n    \"trainer_image\": \"img\",,\n  }\n}", NoEnv);
        var error = Assert.Single(bad.Errors);
        Assert.Equal(3, error.Line);

        var unknown = TrainerSpecParser.Parse("x.json", "{\n  \"j\": {\n    \"image\": \"img\"\n  }\n}", NoEnv);
        Assert.Equal(3, Assert.Single(unknown.Errors).Line);
    }

    [Fact]
    public void Variables_are_expanded_before_parsing()
    {
        var env = new Dictionary<string, string> { ["IMG"] = "registry/img:1", ["N"] = "2" };
        const string yaml = "t:\n  trainer_image: ${IMG}\n  gpus: ${N}\n  env: {A: '${UNSET}', B: '${UNSET:-fallback}'}\n";

        var result = TrainerSpecParser.Parse("v.yaml", yaml, n => env.GetValueOrDefault(n));

        var spec = Assert.Single(result.Trainers);
        Assert.Equal("registry/img:1", spec.TrainerImage);
        Assert.Equal(2, spec.Gpus);
        Assert.Equal("${UNSET}", spec.Env["A"]);
        Assert.Equal("fallback", spec.Env["B"]);
    }

    [Theory]
    [InlineData("1024", 1024L)]
    [InlineData("512m", 512L << 20)]
    [InlineData("8g", 8L << 30)]
    [InlineData("8Gi", 8L << 30)]
    [InlineData("2GB", 2L << 30)]
    [InlineData("1.5k", 1536L)]
    public void Memory_sizes_use_docker_notation(string text, long bytes)
        => Assert.Equal(bytes, TrainerSpecParser.ParseMemory(text));

    [Fact]
    public void The_shipped_example_specs_load_without_errors()
    {
        var dir = Path.Combine(RepoRoot(), "deploy", "trainer-specs");
        var store = new TrainerSpecStore(dir, _ => null, NullLogger<TrainerSpecStore>.Instance);

        Assert.Empty(store.Current.Errors);
        Assert.Equal("routeiq/router-trainer:dev", store.Current.Trainers["knn-router"].TrainerImage);
        Assert.Equal("knn", store.Current.Trainers["knn-router"].Env["ROUTER_TYPE"]);
        Assert.False(store.Current.Trainers["knn-router"].AutoRoll);
        Assert.True(store.Current.Trainers["mlp-router"].AutoRoll);
        var gpu = store.Current.Trainers["mf-router-gpu"];
        Assert.Equal(-1, gpu.Gpus);
        Assert.Equal(8L << 30, gpu.Resources!.MemoryBytes);
        Assert.Equal("ds-example", gpu.Dataset); // ${ROUTEIQ_DEFAULT_DATASET:-ds-example}
    }

    [Theory]
    [InlineData("MF_FACTORS", "MF_FACTORS")]
    [InlineData("router_type", "did you mean ROUTER_TYPE")]
    [InlineData("KNN_NEIGHBOURS", "known: ")]
    public void A_setting_the_built_in_trainer_would_refuse_is_refused_when_the_spec_loads(string setting, string expected)
    {
        var yaml = $"mf:\n  trainer_image: routeiq/router-trainer:dev\n  env:\n    ROUTER_TYPE: mf\n    \"{setting}\": \"64\"\n";

        var result = TrainerSpecParser.Parse("mf.yaml", yaml, NoEnv);

        Assert.Empty(result.Trainers);
        var error = Assert.Single(result.Errors);
        Assert.Equal(5, error.Line);
        Assert.Contains($"trainer 'mf': env: unknown setting '{setting}'", error.Reason);
        Assert.Contains(expected, error.Reason);
    }

    [Fact]
    public void A_trainer_of_its_own_and_ordinary_environment_may_set_any_name()
    {
        const string yaml = """
            own:
              trainer_image: acme/trainer:1
              env: {MF_FACTORS: "64", router_type: x}
            builtin:
              trainer_image: routeiq/router-trainer:dev
              env: {ROUTER_TYPE: mf, MF_DIM: "64", HF_TOKEN: t, http_proxy: ""}
            scripted:
              trainer_image: routeiq/router-trainer:dev
              command: [/bin/sh, -c, "echo $MF_FACTORS"]
              env: {MF_FACTORS: "64"}
            """;

        var result = TrainerSpecParser.Parse("ok.yaml", yaml, NoEnv);

        Assert.Empty(result.Errors);
        Assert.Equal(3, result.Trainers.Count);
    }

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RouteIQ.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("RouteIQ.sln not found above the test binaries");
    }
}
