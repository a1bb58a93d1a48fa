using System.Numerics.Tensors;
using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

public sealed record MfOptions
{
    public int LatentDim { get; init; } = 32;

    public int Epochs { get; init; } = 20;

    public double LearningRate { get; init; } = 0.05;

    public double L2 { get; init; } = 1e-5;

    public ulong Seed { get; init; } = 42;

    public void Validate()
    {
        if (LatentDim is < 1 or > 4096)
        {
            throw new RoutingDataException("MF_DIM", $"must be in [1, 4096], got {LatentDim}");
        }
        if (Epochs is < 1 or > 100_000)
        {
            throw new RoutingDataException("EPOCHS", $"must be in [1, 100000], got {Epochs}");
        }
        if (LearningRate is <= 0 or > 10 || !double.IsFinite(LearningRate))
        {
            throw new RoutingDataException("LEARNING_RATE", $"must be in (0, 10], got {LearningRate}");
        }
    }
}

/// <summary>
/// Bilinear matrix factorisation (as LLMRouter's MF router): a query is projected into a
/// latent space, each model has a latent vector, and score = σ(model · (W·query) + bias),
/// trained with a pairwise logistic loss on (best model, other model) pairs of each query.
/// Scores rank models; they are not calibrated qualities.
/// </summary>
public sealed class MfRouter : IRouterHead
{
    public const string TypeName = "mf";
    private readonly float[] _projection;
    private readonly float[] _models;
    private readonly float[] _bias;
    private readonly int _dimension;
    private readonly int _latent;

    public MfRouter(int dimension, int latent, int modelCount, float[] projection, float[] models, float[] bias)
    {
        if (projection.Length != latent * dimension || models.Length != modelCount * latent || bias.Length != modelCount)
        {
            throw new InvalidModelException("MF arrays do not agree in size");
        }
        _dimension = dimension;
        _latent = latent;
        ModelCount = modelCount;
        _projection = projection;
        _models = models;
        _bias = bias;
    }

    public string Type => TypeName;

    public int ModelCount { get; }

    public void Predict(ReadOnlySpan<float> features, Span<float> scores)
    {
        Span<float> u = _latent <= 1024 ? stackalloc float[_latent] : new float[_latent];
        Project(features, u);
        for (var m = 0; m < ModelCount; m++)
        {
            scores[m] = TensorPrimitives.Dot(_models.AsSpan(m * _latent, _latent), u) + _bias[m];
        }
        TensorPrimitives.Sigmoid(scores[..ModelCount], scores[..ModelCount]);
    }

    private void Project(ReadOnlySpan<float> x, Span<float> u)
    {
        for (var k = 0; k < _latent; k++)
        {
            u[k] = TensorPrimitives.Dot(_projection.AsSpan(k * _dimension, _dimension), x);
        }
    }

    /// <summary>
    /// Pairwise loss on the observed pairs of each query; a query observed for one model only (logged
    /// partial feedback) has no pair, so it teaches that model's score pointwise (logistic loss on
    /// σ(score) against the label) and nothing about the others. Terms are weighted by clipped
    /// inverse propensities (a pair by the geometric mean of its two weights).
    /// </summary>
    public static MfRouter Train(float[] x, int dimension, RoutingDataset data, MfOptions options, Action<string>? log = null, double ipsClip = ScoreMatrix.DefaultIpsClip)
    {
        options.Validate();
        var weights = ScoreMatrix.Weights(data, ipsClip);
        var d = options.LatentDim;
        var modelCount = data.ModelCount;
        var rng = new SeededRandom(options.Seed);
        var projection = new float[d * dimension];
        var models = new float[modelCount * d];
        for (var i = 0; i < projection.Length; i++)
        {
            projection[i] = (float)(rng.NextGaussian() * 0.1);
        }
        for (var i = 0; i < models.Length; i++)
        {
            models[i] = (float)(rng.NextGaussian() * 0.1);
        }
        var router = new MfRouter(dimension, d, modelCount, projection, models, new float[modelCount]);
        var order = Enumerable.Range(0, data.Samples.Count).ToArray();
        var u = new float[d];
        var du = new float[d];
        var diff = new float[d];
        var lr = (float)options.LearningRate;
        var l2 = (float)options.L2;
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            rng.Shuffle(order);
            var loss = 0.0;
            var pairs = 0;
            foreach (var i in order)
            {
                var scores = data.Samples[i].Scores;
                var best = BestObserved(scores);
                if (best < 0)
                {
                    continue;
                }
                var xi = x.AsSpan(i * dimension, dimension);
                router.Project(xi, u);
                Array.Clear(du);
                float W(int m) => weights is null ? 1f : weights[i * modelCount + m];
                if (ObservedCount(scores) == 1)
                {
                    var f = TensorPrimitives.Dot(models.AsSpan(best * d, d), u) + router._bias[best];
                    var sigma = 1f / (1f + MathF.Exp(-f));
                    var g1 = (scores[best] - sigma) * W(best); // −dL/df of the logistic loss
                    loss -= W(best) * (scores[best] * Math.Log(Math.Max(sigma, 1e-6)) + (1 - scores[best]) * Math.Log(Math.Max(1 - sigma, 1e-6)));
                    pairs++;
                    TensorPrimitives.MultiplyAdd(models.AsSpan(best * d, d), g1, du, du);
                    TensorPrimitives.MultiplyAdd(u, lr * g1, models.AsSpan(best * d, d), models.AsSpan(best * d, d));
                    router._bias[best] += lr * g1;
                }
                var fb = TensorPrimitives.Dot(models.AsSpan(best * d, d), u) + router._bias[best];
                for (var o = 0; o < modelCount; o++)
                {
                    if (o == best || float.IsNaN(scores[o]) || scores[o] >= scores[best])
                    {
                        continue;
                    }
                    var fo = TensorPrimitives.Dot(models.AsSpan(o * d, d), u) + router._bias[o];
                    var margin = fb - fo;
                    loss += Math.Log(1 + Math.Exp(-margin));
                    pairs++;
                    var g = MathF.Sqrt(W(best) * W(o)) / (1f + MathF.Exp(margin)); // −dL/dmargin, weighted
                    TensorPrimitives.Subtract(models.AsSpan(best * d, d), models.AsSpan(o * d, d), diff);
                    TensorPrimitives.MultiplyAdd(diff, g, du, du);
                    TensorPrimitives.MultiplyAdd(u, lr * g, models.AsSpan(best * d, d), models.AsSpan(best * d, d));
                    TensorPrimitives.MultiplyAdd(u, -lr * g, models.AsSpan(o * d, d), models.AsSpan(o * d, d));
                    router._bias[best] += lr * g;
                    router._bias[o] -= lr * g;
                }
                for (var k = 0; k < d; k++)
                {
                    if (du[k] != 0f)
                    {
                        var row = projection.AsSpan(k * dimension, dimension);
                        TensorPrimitives.MultiplyAdd(xi, lr * du[k], row, row);
                    }
                }
            }
            if (l2 > 0)
            {
                TensorPrimitives.Multiply(projection, 1f - lr * l2, projection);
                TensorPrimitives.Multiply(models, 1f - lr * l2, models);
            }
            log?.Invoke($"epoch {epoch}/{options.Epochs} pair_loss={(pairs == 0 ? 0 : loss / pairs):F5}");
        }
        return router;
    }

    private static int ObservedCount(float[] scores)
    {
        var n = 0;
        foreach (var v in scores)
        {
            n += float.IsNaN(v) ? 0 : 1;
        }
        return n;
    }

    private static int BestObserved(float[] scores)
    {
        var best = -1;
        for (var m = 0; m < scores.Length; m++)
        {
            if (!float.IsNaN(scores[m]) && (best < 0 || scores[m] > scores[best]))
            {
                best = m;
            }
        }
        return best;
    }

    public void Write(JsonObject header, ModelFileWriter writer)
    {
        header["router"] = new JsonObject { ["type"] = TypeName, ["latent_dim"] = _latent };
        writer.Add("mf.projection", _projection, _latent, _dimension);
        writer.Add("mf.models", _models, ModelCount, _latent);
        writer.Add("mf.bias", _bias, ModelCount);
    }

    public static MfRouter Read(JsonObject router, ModelFileReader reader, int dimension, int modelCount)
    {
        var latent = ModelHeader.Int(router, "latent_dim");
        if (latent is < 1 or > 4096)
        {
            throw new InvalidModelException($"header field 'latent_dim' is out of range ({latent})");
        }
        return new MfRouter(dimension, latent, modelCount, reader.Array("mf.projection", latent, dimension), reader.Array("mf.models", modelCount, latent), reader.Array("mf.bias", modelCount));
    }
}
