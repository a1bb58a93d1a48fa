using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

/// <summary>FEATURIZER=minilm: real sentence embeddings, batched, fingerprinted in the router file so a server never mixes embeddings.</summary>
public sealed class MiniLmFingerprintTests
{
    [Fact]
    public void Embeddings_are_384_dimensional_batched_like_single_and_semantically_ordered()
    {
        using var f = MiniLmFeaturizer.Open();
        Assert.Equal(384, f.Dimension);
        string[] texts = ["How do I fix a null pointer exception in Java?", "My Java program crashes with a NullPointerException", "What is a good recipe for banana bread?"];
        var batch = new float[3 * 384];
        f.FeaturizeBatch(texts, batch);
        for (var i = 0; i < 3; i++)
        {
            var single = new float[384];
            f.Featurize(texts[i], single);
            Assert.True(TensorPrimitives.CosineSimilarity(single, batch.AsSpan(i * 384, 384)) > 0.999f, $"text {i}: batched differs from single");
        }
        var near = TensorPrimitives.Dot(batch.AsSpan(0, 384), batch.AsSpan(384, 384));
        var far = TensorPrimitives.Dot(batch.AsSpan(0, 384), batch.AsSpan(768, 384));
        Assert.True(near > far + 0.3f, $"similar {near}, unrelated {far}");
    }

    [Fact]
    public void A_router_records_the_model_fingerprint_and_a_different_model_is_refused()
    {
        var dir = TestInfra.TempDirectory("minilm-router");
        using (var trained = (SyntheticData.Spec("knn") with { Featurizer = "minilm" }).Train(SyntheticData.Dataset(120, 8)))
        {
            trained.Save(dir);
            Assert.Equal("math-pro", trained.Route("solve the integral equation theorem").Model);
            var batch = trained.RouteBatch(["python function compile bug", "hello weather movie"]);
            Assert.Equal(["code-pro", "chat-lite"], batch.Select(b => b.Model));
        }
        Assert.False(File.Exists(Path.Combine(dir, OnnxEmbeddingFeaturizer.ModelFileName)), "the packaged model is not copied next to the router");
        var bytes = File.ReadAllBytes(Path.Combine(dir, RouterModel.FileName));
        var header = JsonNode.Parse(ModelFileReader.Parse(bytes).Header.ToJsonString())!;
        var sha = header["featurizer"]!["model_sha256"]!.GetValue<string>();
        Assert.Equal("minilm", header["featurizer"]!["kind"]!.GetValue<string>());
        Assert.Equal(64, sha.Length);
        using (var loaded = RouterModel.Load(dir))
        {
            Assert.Equal("minilm", loaded.Featurizer.Kind);
        }

        // The same router's featurizer header claiming embeddings of another model file: refused, never served with this one.
        var claimed = (JsonObject)header["featurizer"]!.DeepClone();
        claimed["model_sha256"] = new string(sha.Select(c => c == '0' ? '1' : '0').ToArray());
        var ex = Assert.Throws<InvalidModelException>(() => MiniLmFeaturizer.Read(claimed));
        Assert.Contains("refusing to mix embeddings", ex.Message);
        using var same = MiniLmFeaturizer.Read((JsonObject)header["featurizer"]!.DeepClone());
        Assert.Equal(sha, same.ModelSha256);
    }

    [Fact]
    public void An_unknown_featurizer_is_refused_naming_the_setting()
    {
        var ex = Assert.Throws<RoutingDataException>(() => (SyntheticData.Spec("knn") with { Featurizer = "word2vec" }).Validate());
        Assert.Equal("FEATURIZER", ex.Field);
    }
}
