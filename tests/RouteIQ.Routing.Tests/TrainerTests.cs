using System.Collections;
using System.Text.Json;
using RouteIQ.RouterTrainer;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

public sealed class TrainerTests
{
    private static async Task<(int Exit, string Log, string Error)> Run(Hashtable env, params string[] args)
    {
        var log = new StringWriter();
        var error = new StringWriter();
        var exit = await TrainerApp.RunAsync(args, env, log, error, CancellationToken.None);
        return (exit, log.ToString(), error.ToString());
    }

    private static string WriteInputs(out string catalogue, int count = 150)
    {
        var dir = TestInfra.TempDirectory("trainer");
        File.WriteAllText(Path.Combine(dir, "train.json"), SyntheticData.LabelledJson(SyntheticData.Dataset(count, seed: 41)));
        catalogue = Path.Combine(dir, "llm.json");
        File.WriteAllText(catalogue, SyntheticData.Catalogue());
        return dir;
    }

    [Theory]
    [InlineData("knn")]
    [InlineData("mlp")]
    [InlineData("mf")]
    public async Task Trainer_writes_a_loadable_model_and_flat_numeric_metrics(string type)
    {
        var dir = WriteInputs(out var catalogue);
        var output = Path.Combine(dir, "out");
        var (exit, log, error) = await Run(new Hashtable
        {
            ["DATASET_PATH"] = Path.Combine(dir, "train.json"),
            ["LLM_DATA_PATH"] = catalogue,
            ["ROUTER_TYPE"] = type,
            ["K"] = "8",
            ["HIDDEN_DIMS"] = "32",
            ["EPOCHS"] = "40",
            ["LEARNING_RATE"] = type == "mf" ? "0.1" : "0.01",
            ["FEATURE_DIM"] = "256",
            ["TEST_SPLIT"] = "0.3",
            ["ROUTEIQ_OUTPUT_DIR"] = output,
        });

        Assert.True(exit == 0, error);
        Assert.Contains("held-out: avg quality", log);
        using var model = RouterModel.Load(output);
        Assert.Equal(type, model.RouterType);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        // Flat numeric metrics (what the runner records) beside the calibration objects.
        Assert.All(metrics.RootElement.EnumerateObject().Where(p => p.Name is not ("operating_curve" or "operating_point" or "best_single")),
            p => Assert.Equal(JsonValueKind.Number, p.Value.ValueKind));
        Assert.True(metrics.RootElement.GetProperty("avg_quality").GetDouble() > metrics.RootElement.GetProperty("best_single_quality").GetDouble());
        Assert.True(metrics.RootElement.GetProperty("test_queries").GetDouble() > 20);
    }

    [Fact]
    public async Task Trainer_reads_a_built_dataset_folder_by_uri()
    {
        var dir = TestInfra.TempDirectory("trainer-dataset");
        var data = SyntheticData.Dataset(200, seed: 42);
        var (train, test) = data.Split(0.25, seed: 1);
        File.WriteAllText(Path.Combine(dir, "routing_train.jsonl"), SyntheticData.RoutingJsonl(train));
        File.WriteAllText(Path.Combine(dir, "routing_test.jsonl"), SyntheticData.RoutingJsonl(test));
        File.WriteAllText(Path.Combine(dir, "llm_data.json"), SyntheticData.Catalogue());
        var output = Path.Combine(dir, "out");

        var (exit, _, error) = await Run(new Hashtable { ["ROUTEIQ_DATASET_URI"] = new Uri(dir).AbsoluteUri, ["ROUTEIQ_OUTPUT_DIR"] = output, ["K"] = "8", ["FEATURE_DIM"] = "256" });

        Assert.True(exit == 0, error);
        using var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        Assert.Equal(test.Samples.Count, metrics.RootElement.GetProperty("test_queries").GetDouble());
        Assert.Equal(train.Samples.Count, metrics.RootElement.GetProperty("train_queries").GetDouble());
        Assert.True(metrics.RootElement.GetProperty("routing_accuracy").GetDouble() > 0.85);
    }

    [Fact]
    public async Task Trainer_accepts_the_llmrouter_command_line_and_yaml_config()
    {
        var dir = WriteInputs(out _);
        var data = SyntheticData.Dataset(150, seed: 43);
        File.WriteAllText(Path.Combine(dir, "routing.jsonl"), SyntheticData.RoutingJsonl(data));
        File.WriteAllText(Path.Combine(dir, "default_llm.json"), SyntheticData.Catalogue());
        File.WriteAllText(Path.Combine(dir, "config.yaml"), """
            data_path:
              routing_data_train: routing.jsonl
              llm_data: default_llm.json
            hparam:
              hidden_dims: [24]
              num_epochs: 15
              learning_rate: 0.01
              feature_dim: 128
              random_state: 9
            """);
        var output = Path.Combine(dir, "out");

        var (exit, _, error) = await Run(new Hashtable { ["ROUTEIQ_OUTPUT_DIR"] = output }, "--router-type", "mlp", "--config", Path.Combine(dir, "config.yaml"));

        Assert.True(exit == 0, error);
        using var model = RouterModel.Load(output);
        Assert.Equal("mlp", model.RouterType);
        Assert.Equal(15, model.Hyperparameters["epochs"]!.GetValue<int>());
        Assert.Equal(9UL, model.Hyperparameters["seed"]!.GetValue<ulong>());
        Assert.Equal(128, model.Featurizer.Dimension);
    }

    [Fact]
    public async Task Trainer_accepts_the_simple_best_model_form()
    {
        var dir = TestInfra.TempDirectory("trainer-simple");
        var queries = SyntheticData.Queries(120, seed: 44).Select(q => new { text = q.Query, best_model = SyntheticData.Models[q.Topic] });
        File.WriteAllText(Path.Combine(dir, "simple.json"), JsonSerializer.Serialize(new { queries }));
        File.WriteAllText(Path.Combine(dir, "llm.json"), SyntheticData.Catalogue());
        var output = Path.Combine(dir, "out");

        var (exit, _, error) = await Run(new Hashtable { ["DATASET_PATH"] = Path.Combine(dir, "simple.json"), ["LLM_DATA_PATH"] = Path.Combine(dir, "llm.json"), ["ROUTEIQ_OUTPUT_DIR"] = output, ["K"] = "5", ["FEATURE_DIM"] = "256" });

        Assert.True(exit == 0, error);
        using var model = RouterModel.Load(output);
        // No ROUTER_TYPE: the documented default head (the one that meets the held-out targets).
        Assert.Equal("mlp", model.RouterType);
        Assert.Equal("code-pro", model.Route("python function compile bug").Model);
    }

    [Theory]
    [InlineData("ROUTER_TYPE", "svm", "ROUTER_TYPE: must be one of knn, mlp, mf, bert")]
    [InlineData("K", "many", "K: expected an integer")]
    [InlineData("K", "0", "K: must be at least 1")]
    [InlineData("HIDDEN_DIMS", "12,x", "HIDDEN_DIMS: expected comma-separated layer sizes")]
    [InlineData("LEARNING_RATE", "-1", "LEARNING_RATE: must be in (0, 1]")]
    [InlineData("COST_WEIGHT", "-0.5", "COST_WEIGHT: must be a non-negative number")]
    [InlineData("TEST_SPLIT", "1.5", "TEST_SPLIT: must be in [0, 1)")]
    [InlineData("DATASET_PATH", "/nonexistent/train.json", "DATASET_PATH: file '/nonexistent/train.json' does not exist")]
    [InlineData("LLM_DATA_PATH", "/nonexistent/llm.json", "LLM_DATA_PATH: file '/nonexistent/llm.json' does not exist")]
    [InlineData("ROUTEIQ_DATASET_URI", "ftp://host/x", "unsupported artifact URI scheme")]
    [InlineData("ROUTER_TYPE", "bert", "EMBEDDING_MODEL_PATH")]
    public async Task Bad_configuration_exits_2_naming_the_field(string key, string value, string expected)
    {
        var dir = WriteInputs(out var catalogue);
        var env = new Hashtable
        {
            ["DATASET_PATH"] = Path.Combine(dir, "train.json"),
            ["LLM_DATA_PATH"] = catalogue,
            ["ROUTEIQ_OUTPUT_DIR"] = Path.Combine(dir, "out"),
            [key] = value,
        };
        if (key == "ROUTEIQ_DATASET_URI")
        {
            env.Remove("DATASET_PATH");
        }

        var (exit, _, error) = await Run(env);

        Assert.Equal(2, exit);
        Assert.Contains(expected, error);
        Assert.False(File.Exists(Path.Combine(dir, "out", RouterModel.FileName)));
    }

    [Theory]
    [InlineData("not json at all", "not valid JSON")]
    [InlineData("[{\"question\": \"q\", \"scores\": {\"unknown-model\": 1}}]", "LLM_DATA_PATH: the model catalogue has no entry (price) for unknown-model")]
    [InlineData("[{\"question\": \"q\", \"scores\": {\"math-pro\": \"high\"}}]", "[0].scores.math-pro: expected a number")]
    [InlineData("[{\"scores\": {\"math-pro\": 1}}]", "[0].question: missing")]
    [InlineData("[]", "contains no queries")]
    [InlineData("{\"queries\": [{\"text\": \"hi\"}]}", ".queries[0].best_model: missing")]
    public async Task Bad_training_data_exits_2_naming_the_record(string content, string expected)
    {
        var dir = WriteInputs(out var catalogue);
        File.WriteAllText(Path.Combine(dir, "bad.json"), content);

        var (exit, _, error) = await Run(new Hashtable { ["DATASET_PATH"] = Path.Combine(dir, "bad.json"), ["LLM_DATA_PATH"] = catalogue, ["ROUTEIQ_OUTPUT_DIR"] = Path.Combine(dir, "out") });

        Assert.Equal(2, exit);
        Assert.Contains(expected, error);
    }

    [Fact]
    public async Task Missing_dataset_and_catalogue_are_named()
    {
        var (exit, _, error) = await Run(new Hashtable());
        Assert.Equal(2, exit);
        Assert.Contains("ROUTEIQ_DATASET_URI", error);

        var dir = WriteInputs(out _);
        (exit, _, error) = await Run(new Hashtable { ["DATASET_PATH"] = Path.Combine(dir, "train.json") });
        Assert.Equal(2, exit);
        Assert.Contains("LLM_DATA_PATH: required", error);

        (exit, _, error) = await Run(new Hashtable { ["ROUTEIQ_DATASET_URI"] = new Uri(dir).AbsoluteUri });
        Assert.Equal(2, exit);
        Assert.Contains("llm_data.json", error);
    }

    [Fact]
    public void Jsonl_observations_group_by_query_and_keep_unobserved_models_missing()
    {
        var jsonl = """
            {"query": "q1", "model_name": "math-pro", "performance": 0.9, "embedding_id": 0}
            {"query": "q1", "model_name": "chat-lite", "performance": 0.1, "embedding_id": 0}

            {"query": "q2", "model_name": "chat-lite", "performance": 0.7, "embedding_id": 1}
            """;
        var data = DatasetLoader.ReadRoutingJsonl(new StringReader(jsonl), "t.jsonl", new Dictionary<string, double> { ["math-pro"] = 1, ["chat-lite"] = 0.1 });

        Assert.Equal(["math-pro", "chat-lite"], data.Models);
        Assert.Equal(2, data.Samples.Count);
        Assert.Equal([0.9f, 0.1f], data.Samples[0].Scores);
        Assert.True(float.IsNaN(data.Samples[1].Scores[0]));

        var error = Assert.Throws<RoutingDataException>(() => DatasetLoader.ReadRoutingJsonl(new StringReader("{\"query\": \"q\", \"model_name\": \"m\"}"), "t.jsonl", new Dictionary<string, double>()));
        Assert.Equal("t.jsonl:1.performance", error.Field);
    }
}
