using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

/// <summary>Turns a query into a fixed-length, L2-normalised vector. Implementations are thread-safe.</summary>
public interface IFeaturizer : IDisposable
{
    /// <summary>The kind recorded in the model file: <c>tfidf-hash</c> or <c>onnx-embedding</c>.</summary>
    string Kind { get; }

    int Dimension { get; }

    /// <summary>Writes the features of <paramref name="text"/> into <paramref name="output"/> (length <see cref="Dimension"/>).</summary>
    void Featurize(string text, Span<float> output);

    /// <summary>Records the featurizer's settings in the model header and its arrays in the model file.</summary>
    void Write(JsonObject header, ModelFileWriter writer, string modelDirectory);
}

public static class FeaturizerExtensions
{
    /// <summary>Featurizes many texts into one row-major matrix, in parallel when asked.</summary>
    public static float[] FeaturizeAll(this IFeaturizer featurizer, IReadOnlyList<string> texts, int maxDegreeOfParallelism = 1)
    {
        var d = featurizer.Dimension;
        var matrix = new float[texts.Count * d];
        if (featurizer is MiniLmFeaturizer minilm)
        {
            // Batches of 32 texts per model run, the batches in parallel. Texts of similar length share a
            // batch (a batch is padded to its longest text), then each vector goes back to its text's row.
            const int batch = 32;
            var order = Enumerable.Range(0, texts.Count).OrderBy(i => texts[i].Length).ThenBy(i => i).ToArray();
            var chunks = (texts.Count + batch - 1) / batch;
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxDegreeOfParallelism) }, c =>
            {
                var start = c * batch;
                var count = Math.Min(batch, texts.Count - start);
                var slice = new string[count];
                for (var i = 0; i < count; i++)
                {
                    slice[i] = texts[order[start + i]];
                }
                var vectors = new float[count * d];
                minilm.FeaturizeBatch(slice, vectors);
                for (var i = 0; i < count; i++)
                {
                    vectors.AsSpan(i * d, d).CopyTo(matrix.AsSpan(order[start + i] * d, d));
                }
            });
            return matrix;
        }
        Parallel.For(0, texts.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxDegreeOfParallelism) },
            i => featurizer.Featurize(texts[i], matrix.AsSpan(i * d, d)));
        return matrix;
    }
}
