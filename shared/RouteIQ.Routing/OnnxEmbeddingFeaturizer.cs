using System.Numerics.Tensors;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;

namespace RouteIQ.Routing;

/// <summary>
/// Sentence embeddings from a user-supplied ONNX encoder (BERT-style inputs <c>input_ids</c>,
/// <c>attention_mask</c>, optional <c>token_type_ids</c>) tokenised with its WordPiece
/// vocabulary. A rank-3 output is mean-pooled over the attention mask; a rank-2 output is
/// used as is. The result is L2-normalised. The model and vocabulary are copied next to the
/// router model and pinned by SHA-256.
/// </summary>
public sealed class OnnxEmbeddingFeaturizer : IFeaturizer
{
    public const string KindName = "onnx-embedding";
    public const string ModelFileName = "embedding.onnx";
    public const string VocabFileName = "vocab.txt";

    private readonly InferenceSession _session;
    private readonly BertTokenizer _tokenizer;
    private readonly string _outputName;
    private readonly bool _wantsTokenTypes;

    private OnnxEmbeddingFeaturizer(string modelPath, string vocabPath, int maxTokens, bool lowerCase)
    {
        ModelPath = modelPath;
        VocabPath = vocabPath;
        MaxTokens = maxTokens;
        LowerCase = lowerCase;
        try
        {
            _tokenizer = BertTokenizer.Create(vocabPath, new BertOptions { LowerCaseBeforeTokenization = lowerCase });
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or InvalidOperationException or FormatException)
        {
            throw new RoutingDataException("EMBEDDING_VOCAB_PATH", $"cannot read the WordPiece vocabulary '{vocabPath}': {ex.Message}");
        }
        try
        {
            using var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
            _session = new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new RoutingDataException("EMBEDDING_MODEL_PATH", $"cannot load the ONNX model '{modelPath}': {ex.Message}");
        }
        if (!_session.InputMetadata.ContainsKey("input_ids"))
        {
            _session.Dispose();
            throw new RoutingDataException("EMBEDDING_MODEL_PATH", $"the ONNX model has no 'input_ids' input (inputs: {string.Join(", ", _session.InputMetadata.Keys)})");
        }
        _wantsTokenTypes = _session.InputMetadata.ContainsKey("token_type_ids");
        _outputName = _session.OutputMetadata.Keys.Contains("sentence_embedding") ? "sentence_embedding" : _session.OutputMetadata.Keys.First();
        var dims = _session.OutputMetadata[_outputName].Dimensions;
        Dimension = dims.Length > 0 && dims[^1] > 0 ? dims[^1] : Embed("dimension probe").Length;
    }

    public string ModelPath { get; }

    public string VocabPath { get; }

    public int MaxTokens { get; }

    public bool LowerCase { get; }

    public string Kind => KindName;

    public int Dimension { get; }

    public static OnnxEmbeddingFeaturizer Open(string modelPath, string vocabPath, int maxTokens = 256, bool lowerCase = true)
    {
        if (!File.Exists(modelPath))
        {
            throw new RoutingDataException("EMBEDDING_MODEL_PATH", $"file '{modelPath}' does not exist");
        }
        if (!File.Exists(vocabPath))
        {
            throw new RoutingDataException("EMBEDDING_VOCAB_PATH", $"file '{vocabPath}' does not exist");
        }
        if (maxTokens is < 2 or > 8192)
        {
            throw new RoutingDataException("EMBEDDING_MAX_TOKENS", $"must be in [2, 8192], got {maxTokens}");
        }
        return new OnnxEmbeddingFeaturizer(modelPath, vocabPath, maxTokens, lowerCase);
    }

    public void Featurize(string text, Span<float> output)
    {
        var embedding = Embed(text);
        if (embedding.Length != output.Length)
        {
            throw new InvalidOperationException($"the ONNX model returned {embedding.Length} values, expected {output.Length}");
        }
        embedding.CopyTo(output);
    }

    /// <summary>
    /// Embeds several texts with one model run: token ids padded to the longest, the attention mask
    /// keeping padding out of the mean pooling. Same vectors as one text at a time, far fewer runs.
    /// </summary>
    public void FeaturizeBatch(IReadOnlyList<string> texts, Span<float> output)
    {
        var n = texts.Count;
        if (n == 0)
        {
            return;
        }
        var ids = new IReadOnlyList<int>[n];
        var t = 1;
        for (var b = 0; b < n; b++)
        {
            ids[b] = _tokenizer.EncodeToIds(texts[b], MaxTokens, addSpecialTokens: true, out _, out _);
            t = Math.Max(t, ids[b].Count);
        }
        var inputIds = new DenseTensor<long>([n, t]);
        var mask = new DenseTensor<long>([n, t]);
        var idSpan = inputIds.Buffer.Span;
        var maskSpan = mask.Buffer.Span;
        for (var b = 0; b < n; b++)
        {
            for (var i = 0; i < ids[b].Count; i++)
            {
                idSpan[b * t + i] = ids[b][i];
                maskSpan[b * t + i] = 1;
            }
        }
        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("input_ids", inputIds) };
        if (_session.InputMetadata.ContainsKey("attention_mask"))
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("attention_mask", mask));
        }
        if (_wantsTokenTypes)
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>([n, t])));
        }
        using var results = _session.Run(inputs, [_outputName]);
        var tensor = results[0].AsTensor<float>();
        var values = Values(tensor);
        var d = Dimension;
        for (var b = 0; b < n; b++)
        {
            var row = output.Slice(b * d, d);
            if (tensor.Rank == 3)
            {
                Pool(values.Slice(b * t * d, t * d), ids[b].Count, d, row);
            }
            else
            {
                values.Slice(b * d, d).CopyTo(row);
                Normalize(row);
            }
        }
    }

    /// <summary>The tensor's values in row-major order, without the per-element indexer (it allocates its index array on every call).</summary>
    private static ReadOnlySpan<float> Values(Microsoft.ML.OnnxRuntime.Tensors.Tensor<float> tensor) => tensor is DenseTensor<float> dense ? dense.Buffer.Span : tensor.ToDenseTensor().Buffer.Span;

    /// <summary>Mean pooling of the first <paramref name="tokens"/> hidden states (the rest is padding), L2-normalised.</summary>
    private static void Pool(ReadOnlySpan<float> hidden, int tokens, int d, Span<float> row)
    {
        row.Clear();
        for (var i = 0; i < tokens; i++)
        {
            TensorPrimitives.Add(row, hidden.Slice(i * d, d), row);
        }
        Normalize(row);
    }

    private static void Normalize(Span<float> row)
    {
        var norm = TensorPrimitives.Norm(row);
        if (norm > 0)
        {
            TensorPrimitives.Divide(row, norm, row);
        }
    }

    private float[] Embed(string text)
    {
        var ids = _tokenizer.EncodeToIds(text, MaxTokens, addSpecialTokens: true, out _, out _);
        var t = ids.Count;
        var inputIds = new DenseTensor<long>([1, t]);
        var mask = new DenseTensor<long>([1, t]);
        for (var i = 0; i < t; i++)
        {
            inputIds.Buffer.Span[i] = ids[i];
            mask.Buffer.Span[i] = 1;
        }
        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("input_ids", inputIds) };
        if (_session.InputMetadata.ContainsKey("attention_mask"))
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("attention_mask", mask));
        }
        if (_wantsTokenTypes)
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>([1, t])));
        }
        using var results = _session.Run(inputs, [_outputName]);
        var tensor = results[0].AsTensor<float>();
        float[] embedding;
        if (tensor.Rank == 3)
        {
            var h = tensor.Dimensions[2];
            embedding = new float[h];
            Pool(Values(tensor), t, h, embedding);
        }
        else if (tensor.Rank == 2)
        {
            embedding = Values(tensor).ToArray();
            Normalize(embedding);
        }
        else
        {
            throw new InvalidOperationException($"the ONNX model's output '{_outputName}' has rank {tensor.Rank}; expected 2 or 3");
        }
        return embedding;
    }

    public void Write(JsonObject header, ModelFileWriter writer, string modelDirectory)
    {
        var modelTarget = Path.Combine(modelDirectory, ModelFileName);
        var vocabTarget = Path.Combine(modelDirectory, VocabFileName);
        CopyUnlessSame(ModelPath, modelTarget);
        CopyUnlessSame(VocabPath, vocabTarget);
        header["featurizer"] = new JsonObject
        {
            ["kind"] = KindName,
            ["dimension"] = Dimension,
            ["max_tokens"] = MaxTokens,
            ["lower_case"] = LowerCase,
            ["model_file"] = ModelFileName,
            ["model_sha256"] = Sha256(modelTarget),
            ["vocab_file"] = VocabFileName,
            ["vocab_sha256"] = Sha256(vocabTarget),
        };
    }

    public static OnnxEmbeddingFeaturizer Read(JsonObject featurizer, string modelDirectory)
    {
        var model = Path.Combine(modelDirectory, ModelFileName);
        var vocab = Path.Combine(modelDirectory, VocabFileName);
        foreach (var (path, field) in new[] { (model, "model_sha256"), (vocab, "vocab_sha256") })
        {
            if (!File.Exists(path))
            {
                throw new InvalidModelException($"'{Path.GetFileName(path)}' is missing next to the router model");
            }
            if (!string.Equals(Sha256(path), ModelHeader.String(featurizer, field), StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidModelException($"'{Path.GetFileName(path)}' does not match the SHA-256 recorded in the router model");
            }
        }
        var result = Open(model, vocab, ModelHeader.Int(featurizer, "max_tokens"), ModelHeader.Bool(featurizer, "lower_case"));
        if (result.Dimension != ModelHeader.Int(featurizer, "dimension"))
        {
            result.Dispose();
            throw new InvalidModelException("the embedding model's dimension differs from the router model's");
        }
        return result;
    }

    private static void CopyUnlessSame(string source, string target)
    {
        if (!string.Equals(Path.GetFullPath(source), Path.GetFullPath(target), StringComparison.Ordinal))
        {
            File.Copy(source, target, overwrite: true);
        }
    }

    internal static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public void Dispose() => _session.Dispose();
}
