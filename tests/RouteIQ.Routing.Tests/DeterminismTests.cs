using System.Collections;
using RouteIQ.RouterTrainer;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

public sealed class DeterminismTests
{
    [Theory]
    [InlineData("knn")]
    [InlineData("mlp")]
    [InlineData("mf")]
    public void Same_data_and_seed_give_identical_model_bytes(string type)
    {
        var data = SyntheticData.Dataset(150, seed: 11);
        var dir = TestInfra.TempDirectory("determinism");

        using var first = SyntheticData.Spec(type, seed: 5).Train(data);
        using var second = SyntheticData.Spec(type, seed: 5).Train(data, featurizeParallelism: 2);

        Assert.Equal(first.ToBytes(dir), second.ToBytes(dir));
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("mf")]
    public void Another_seed_gives_another_model(string type)
    {
        var data = SyntheticData.Dataset(150, seed: 11);
        var dir = TestInfra.TempDirectory("determinism");

        using var first = SyntheticData.Spec(type, seed: 5).Train(data);
        using var second = SyntheticData.Spec(type, seed: 6).Train(data);

        Assert.NotEqual(first.ToBytes(dir), second.ToBytes(dir));
    }

    [Fact]
    public async Task Trainer_runs_with_the_same_seed_write_identical_model_and_metrics()
    {
        var input = TestInfra.TempDirectory("trainer-determinism");
        await File.WriteAllTextAsync(Path.Combine(input, "train.json"), SyntheticData.LabelledJson(SyntheticData.Dataset(200, seed: 12)));
        await File.WriteAllTextAsync(Path.Combine(input, "llm.json"), SyntheticData.Catalogue());
        var outputs = new List<string>();
        foreach (var run in new[] { "a", "b" })
        {
            var output = Path.Combine(input, run);
            var env = new Hashtable
            {
                ["DATASET_PATH"] = Path.Combine(input, "train.json"),
                ["LLM_DATA_PATH"] = Path.Combine(input, "llm.json"),
                ["ROUTER_TYPE"] = "mlp",
                ["HIDDEN_DIMS"] = "16",
                ["EPOCHS"] = "20",
                ["FEATURE_DIM"] = "128",
                ["SEED"] = "3",
                ["ROUTEIQ_OUTPUT_DIR"] = output,
            };
            Assert.Equal(0, await TrainerApp.RunAsync([], env, TextWriter.Null, TextWriter.Null, CancellationToken.None));
            outputs.Add(output);
        }

        Assert.Equal(File.ReadAllBytes(Path.Combine(outputs[0], RouterModel.FileName)), File.ReadAllBytes(Path.Combine(outputs[1], RouterModel.FileName)));
        Assert.Equal(File.ReadAllText(Path.Combine(outputs[0], "metrics.json")), File.ReadAllText(Path.Combine(outputs[1], "metrics.json")));
    }
}
