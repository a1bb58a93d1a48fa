using System.Collections;
using System.Numerics.Tensors;
using RouteIQ.RouterTrainer;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

public sealed class EmbeddingFeaturizerTests
{
    private const int Hidden = 8;

    /// <summary>Topic words point along their topic's axis; filler words are small noise.</summary>
    private static (string Model, string Vocab) WriteModel(string dir)
    {
        var words = SyntheticData.Queries(400, seed: 51).SelectMany(q => q.Query.TrimEnd('?').Split(' ')).Distinct().Append("?").ToList();
        string[][] topics =
        [
            ["integral", "derivative", "equation", "solve", "matrix", "prime", "theorem", "polynomial", "algebra", "geometry"],
            ["python", "function", "compile", "bug", "class", "variable", "loop", "javascript", "recursion", "api"],
            ["hello", "weather", "movie", "recipe", "holiday", "friend", "music", "travel", "story", "joke"],
        ];
        return TinyOnnxModel.Write(dir, words, Hidden, word =>
        {
            var v = new float[Hidden];
            var rng = new SeededRandom(StableHash.String(word, 1));
            for (var i = 0; i < Hidden; i++)
            {
                v[i] = (float)(rng.NextGaussian() * 0.05);
            }
            for (var t = 0; t < topics.Length; t++)
            {
                if (topics[t].Contains(word))
                {
                    v[t] += 1f;
                }
            }
            return v;
        });
    }

    [Fact]
    public void Onnx_featurizer_embeds_with_the_wordpiece_vocabulary_and_normalises()
    {
        var dir = TestInfra.TempDirectory("onnx");
        var (model, vocab) = WriteModel(dir);
        using var featurizer = OnnxEmbeddingFeaturizer.Open(model, vocab);

        var math = new float[featurizer.Dimension];
        var code = new float[featurizer.Dimension];
        var math2 = new float[featurizer.Dimension];
        featurizer.Featurize("Solve the integral equation", math);
        featurizer.Featurize("compile my python function", code);
        featurizer.Featurize("a polynomial theorem", math2);

        Assert.Equal(Hidden, featurizer.Dimension);
        Assert.Equal(1f, TensorPrimitives.Norm(math), 3);
        Assert.True(TensorPrimitives.Dot(math, math2) > 0.8f);
        Assert.True(TensorPrimitives.Dot(math, code) < 0.5f);
    }

    [Fact]
    public async Task Bert_router_trains_on_onnx_embeddings_ships_the_encoder_and_refuses_a_swapped_one()
    {
        var dir = TestInfra.TempDirectory("onnx-bert");
        var (modelPath, vocabPath) = WriteModel(dir);
        File.WriteAllText(Path.Combine(dir, "train.json"), SyntheticData.LabelledJson(SyntheticData.Dataset(240, seed: 53)));
        File.WriteAllText(Path.Combine(dir, "llm.json"), SyntheticData.Catalogue());
        var output = Path.Combine(dir, "out");
        var error = new StringWriter();

        var exit = await TrainerApp.RunAsync(["--router-type", "bert"], new Hashtable
        {
            ["DATASET_PATH"] = Path.Combine(dir, "train.json"),
            ["LLM_DATA_PATH"] = Path.Combine(dir, "llm.json"),
            ["EMBEDDING_MODEL_PATH"] = modelPath,
            ["EMBEDDING_VOCAB_PATH"] = vocabPath,
            ["HIDDEN_DIMS"] = "16",
            ["EPOCHS"] = "80",
            ["LEARNING_RATE"] = "0.02",
            ["ROUTEIQ_OUTPUT_DIR"] = output,
        }, TextWriter.Null, error, CancellationToken.None);

        Assert.True(exit == 0, error.ToString());
        Assert.True(File.Exists(Path.Combine(output, OnnxEmbeddingFeaturizer.ModelFileName)));
        Assert.True(File.Exists(Path.Combine(output, OnnxEmbeddingFeaturizer.VocabFileName)));
        using (var model = RouterModel.Load(output))
        {
            Assert.Equal(OnnxEmbeddingFeaturizer.KindName, model.Featurizer.Kind);
            var queries = SyntheticData.Queries(60, seed: 54);
            Assert.True(queries.Count(q => model.Route(q.Query).ModelIndex == q.Topic) >= 54);
        }

        // Another encoder under the same name would silently change every route: refused.
        File.AppendAllText(Path.Combine(output, OnnxEmbeddingFeaturizer.VocabFileName), "extra\n");
        var refused = Assert.Throws<InvalidModelException>(() => RouterModel.Load(output));
        Assert.Contains("vocab.txt' does not match the SHA-256", refused.Message);
    }

    [Fact]
    public void A_file_that_is_not_onnx_is_named_in_the_error()
    {
        var dir = TestInfra.TempDirectory("onnx-bad");
        var (_, vocab) = WriteModel(dir);
        var bogus = Path.Combine(dir, "bogus.onnx");
        File.WriteAllText(bogus, "definitely not protobuf");

        var error = Assert.Throws<RoutingDataException>(() => OnnxEmbeddingFeaturizer.Open(bogus, vocab));
        Assert.Equal("EMBEDDING_MODEL_PATH", error.Field);
        Assert.Equal("EMBEDDING_VOCAB_PATH", Assert.Throws<RoutingDataException>(() => OnnxEmbeddingFeaturizer.Open(bogus, Path.Combine(dir, "none.txt"))).Field);
    }
}
