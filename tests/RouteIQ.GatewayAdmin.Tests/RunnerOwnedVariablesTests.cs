using System.Text;
using System.Text.Json;
using RouteIQ.GatewayAdmin.Specs;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// The runner owns its variables: a request parameter naming one (in any letter case) is refused
/// with 400 naming it before any job exists; a trainer spec's env (operator configuration) may
/// still set them. For the built-in trainer, names it would refuse at start are refused here too.
/// </summary>
public sealed class RunnerOwnedVariablesTests
{
    public static readonly string[] DenyList =
    [
        "ROUTEIQ_OUTPUT_DIR", "ROUTEIQ_DATASET_URI", "ROUTEIQ_JOB_ID", "ROUTEIQ_ANYTHING", "PATH", "HOME", "TMPDIR",
        "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES",
        "DOTNET_STARTUP_HOOKS", "DOTNET_ADDITIONAL_DEPS", "CORECLR_PROFILER", "CORECLR_ENABLE_PROFILING", "COMPlus_EnableDiagnostics",
        "NODE_OPTIONS", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "JAVA_TOOL_OPTIONS", "BASH_ENV", "ENV", "IFS", "SHELLOPTS",
        "PERL5OPT", "RUBYOPT", "GCONV_PATH", "HTTPS_PROXY", "SSL_CERT_FILE", "AWS_ENDPOINT_URL_S3", "MLFLOW_TRACKING_URI", "BASH_FUNC_x%%",
    ];

    private static readonly Dictionary<string, TrainerSpec> Specs = new()
    {
        ["custom"] = new TrainerSpec
        {
            Name = "custom", SourceFile = "s.yaml", TrainerImage = "registry.example/custom-trainer:1",
            Env = new Dictionary<string, string> { ["PATH"] = "/opt/tools/bin:/usr/bin", ["LD_LIBRARY_PATH"] = "/opt/cuda/lib64", ["ROUTEIQ_EXTRA"] = "1" },
        },
        ["builtin"] = new TrainerSpec { Name = "builtin", SourceFile = "s.yaml", TrainerImage = "routeiq/router-trainer:dev", Env = new Dictionary<string, string> { ["ROUTER_TYPE"] = "mf" } },
        ["builtin-command"] = new TrainerSpec { Name = "builtin-command", SourceFile = "s.yaml", TrainerImage = "routeiq/router-trainer", Command = ["python", "train.py"] },
    };

    private static TrainBody Body(string name, string value)
    {
        var json = JsonSerializer.Serialize(new Dictionary<string, object> { ["parameters"] = new Dictionary<string, string> { [name] = value } });
        var (body, problem) = Api.RequestBodies.ParseTrain(JsonDocument.Parse(json).RootElement.Clone());
        Assert.Null(problem);
        return body!;
    }

    private static string RandomCase(string name, Random random)
    {
        var sb = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            sb.Append(random.Next(2) == 0 ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
        }
        return sb.ToString();
    }

    [Fact]
    public void Every_case_variant_of_a_runner_owned_name_is_refused_with_400_naming_it()
    {
        var seed = Environment.TickCount;
        var random = new Random(seed);
        for (var i = 0; i < 3000; i++)
        {
            var name = RandomCase(DenyList[random.Next(DenyList.Length)], random);
            if (!EnvironmentNames.IsValid(name))
            {
                continue; // BASH_FUNC_x%% is refused as an invalid name before it gets here
            }
            var (resolved, error) = TrainRequestResolver.Resolve(Specs, "custom", Body(name, "/tmp/evil"), _ => null);

            Assert.True(resolved is null, $"seed {seed}: '{name}' was accepted");
            Assert.Equal(400, error!.StatusCode);
            Assert.Equal($"parameters.{name}", error.Fields["field"]);
            Assert.Contains($"'{name}'", error.Error);
            Assert.True(RunnerOwnedVariables.IsRunnerOwned(name), $"seed {seed}: {name}");
        }
    }

    [Fact]
    public void The_spec_env_may_still_set_them_and_ordinary_parameters_pass()
    {
        var (resolved, error) = TrainRequestResolver.Resolve(Specs, "custom", Body("BATCH", "64"), _ => null);

        Assert.Null(error);
        Assert.Equal("/opt/tools/bin:/usr/bin", resolved!.Environment["PATH"]);
        Assert.Equal("/opt/cuda/lib64", resolved.Environment["LD_LIBRARY_PATH"]);
        Assert.Equal("64", resolved.Environment["BATCH"]);
        Assert.False(RunnerOwnedVariables.IsRunnerOwned("HF_TOKEN"));
        Assert.True(RunnerOwnedVariables.IsRunnerOwned("Ld_PrElOaD"));
    }

    [Theory]
    [InlineData("MF_FACTORS")]
    [InlineData("k")]
    [InlineData("Router_Type")]
    [InlineData("KNN_NEIGHBOURS")]
    public void The_built_in_trainer_refuses_at_the_api_what_it_would_refuse_at_start(string name)
    {
        var (_, error) = TrainRequestResolver.Resolve(Specs, "builtin", Body(name, "3"), _ => null);
        Assert.Equal(400, error!.StatusCode);
        Assert.Equal($"parameters.{name}", error.Fields["field"]);
        Assert.Contains($"'{name}'", error.Error);

        // The same name for a trainer with its own command, or any other image, is that trainer's business.
        Assert.Null(TrainRequestResolver.Resolve(Specs, "builtin-command", Body(name, "3"), _ => null).Error);
        Assert.Null(TrainRequestResolver.Resolve(Specs, "custom", Body(name, "3"), _ => null).Error);
        Assert.Null(TrainRequestResolver.Resolve(Specs, "builtin", Body("MF_DIM", "3"), _ => null).Error);
    }
}

/// <summary>The same refusal through the HTTP API: 400 problem+json naming the field, and no job.</summary>
[Trait("Category", "Integration")]
public sealed class RunnerOwnedVariablesApiTests(LedgerFixture fixture) : IClassFixture<LedgerFixture>
{
    [Theory]
    [InlineData("routeiq_output_dir", "/any/dir")]
    [InlineData("PATH", "/tmp/evil")]
    [InlineData("LD_PRELOAD", "/tmp/evil.so")]
    [InlineData("DOTNET_STARTUP_HOOKS", "/tmp/hook.dll")]
    public async Task A_runner_owned_parameter_is_refused_before_any_job_exists(string name, string value)
    {
        var dispatched = fixture.Cluster.Dispatched.Count;
        var (_, before) = await fixture.Host.GetAsync("/admin/jobs");

        var (status, body, response) = await fixture.Host.PostAsync("/admin/train/knn",
            new Dictionary<string, object> { ["parameters"] = new Dictionary<string, string> { [name] = value } },
            r => r.Headers.Add("Prefer", "respond-async"));

        Assert.Equal(400, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal($"parameters.{name}", (string?)body["field"]);
        Assert.Contains(name, (string?)body["error"]);
        var (_, after) = await fixture.Host.GetAsync("/admin/jobs");
        Assert.Equal(before["jobs"]!.AsArray().Count, after["jobs"]!.AsArray().Count);
        Assert.Equal(dispatched, fixture.Cluster.Dispatched.Count);
    }
}
