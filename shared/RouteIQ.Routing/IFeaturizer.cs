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
        Parallel.For(0, texts.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, maxDegreeOfParallelism) },
            i => featurizer.Featurize(texts[i], matrix.AsSpan(i * d, d)));
        return matrix;
    }
}
