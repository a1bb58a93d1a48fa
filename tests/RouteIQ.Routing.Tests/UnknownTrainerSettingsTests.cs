using System.Collections;
using RouteIQ.RouterTrainer;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

/// <summary>
/// Trainer settings are read case-sensitively, and a name that looks like a setting but is none
/// is refused with one line naming it (exit 2) instead of being silently ignored.
/// </summary>
public sealed class UnknownTrainerSettingsTests
{
    private static async Task<(int Exit, string Error, string Output)> Run(Hashtable extra, params string[] args)
    {
        var dir = TestInfra.TempDirectory("trainer-settings");
        File.WriteAllText(Path.Combine(dir, "train.json"), SyntheticData.LabelledJson(SyntheticData.Dataset(60, seed: 5)));
        File.WriteAllText(Path.Combine(dir, "llm.json"), SyntheticData.Catalogue());
        var output = Path.Combine(dir, "out");
        var env = new Hashtable
        {
            ["DATASET_PATH"] = Path.Combine(dir, "train.json"),
            ["LLM_DATA_PATH"] = Path.Combine(dir, "llm.json"),
            ["ROUTEIQ_OUTPUT_DIR"] = output,
            ["FEATURE_DIM"] = "64",
        };
        foreach (DictionaryEntry e in extra)
        {
            env[e.Key] = e.Value;
        }
        var log = new StringWriter();
        var error = new StringWriter();
        var exit = await TrainerApp.RunAsync(args, env, log, error, CancellationToken.None);
        return (exit, error.ToString(), output);
    }

    [Theory]
    [InlineData("MF_FACTORS", "64")]
    [InlineData("hparam.embedding_model", "bge-small")]
    [InlineData("KNN_NEIGHBOURS", "5")]
    [InlineData("k", "3")]
    [InlineData("router_type", "mlp")]
    public async Task An_unknown_or_miscased_setting_is_refused_with_one_line_naming_it(string name, string value)
    {
        var (exit, error, output) = await Run(new Hashtable { [name] = value });

        Assert.Equal(2, exit);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"'{name}'", line);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFiles(output).Any());
    }

    [Fact]
    public async Task A_lower_case_output_dir_neither_moves_the_model_nor_passes_silently()
    {
        var elsewhere = TestInfra.TempDirectory("trainer-elsewhere");

        var (exit, error, _) = await Run(new Hashtable { ["routeiq_output_dir"] = elsewhere });

        Assert.Equal(2, exit);
        Assert.Contains("'routeiq_output_dir'", error);
        Assert.Contains("ROUTEIQ_OUTPUT_DIR", error);
        Assert.Empty(Directory.EnumerateFileSystemEntries(elsewhere));

        // Ordinary environment and the exact names are fine.
        var (ok, okError, output) = await Run(new Hashtable { ["HF_TOKEN"] = "x", ["LANG"] = "C.UTF-8", ["REGISTERED_MODEL_NAME"] = "m", ["MF_DIM"] = "8" });
        Assert.True(ok == 0, okError);
        Assert.True(File.Exists(Path.Combine(output, RouterModel.FileName)));
    }

    [Fact]
    public async Task An_unknown_key_in_an_llmrouter_yaml_config_is_refused_naming_it()
    {
        var config = Path.Combine(TestInfra.TempDirectory("trainer-yaml"), "config.yaml");
        await File.WriteAllTextAsync(config, "hparam:\n  embedding_model: bge-small\n");

        var (exit, error, _) = await Run([], "--config", config);

        Assert.Equal(2, exit);
        Assert.Contains("hparam.embedding_model", error);
    }
}
