using System.Numerics.Tensors;
using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

public sealed record MlpOptions
{
    public int[] HiddenDims { get; init; } = [64];

    public int Epochs { get; init; } = 40;

    public double LearningRate { get; init; } = 1e-3;

    public int BatchSize { get; init; } = 32;

    /// <summary>Decoupled weight decay (AdamW).</summary>
    public double WeightDecay { get; init; } = 1e-4;

    /// <summary>Share of the training queries held back to decide when to stop.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Epochs without a better validation loss before training stops.</summary>
    public int Patience { get; init; } = 5;

    public ulong Seed { get; init; } = 42;

    public void Validate()
    {
        if (HiddenDims.Length == 0 || HiddenDims.Any(h => h is < 1 or > 8192))
        {
            throw new RoutingDataException("HIDDEN_DIMS", $"need one or more layer sizes in [1, 8192], got [{string.Join(',', HiddenDims)}]");
        }
        if (Epochs is < 1 or > 100_000)
        {
            throw new RoutingDataException("EPOCHS", $"must be in [1, 100000], got {Epochs}");
        }
        if (LearningRate is <= 0 or > 1 || !double.IsFinite(LearningRate))
        {
            throw new RoutingDataException("LEARNING_RATE", $"must be in (0, 1], got {LearningRate}");
        }
        if (BatchSize < 1)
        {
            throw new RoutingDataException("BATCH_SIZE", $"must be at least 1, got {BatchSize}");
        }
        if (ValidationFraction is < 0 or >= 1)
        {
            throw new RoutingDataException("VALIDATION_SPLIT", $"must be in [0, 1), got {ValidationFraction}");
        }
    }
}

/// <summary>
/// A multi-layer perceptron regressing every model's score at once (ReLU hidden layers,
/// sigmoid outputs, cross-entropy against the observed scores; unobserved scores carry no
/// loss), trained with AdamW on mini-batches and stopped early on a held-back share.
/// </summary>
public sealed class MlpRouter : IRouterHead
{
    public const string TypeName = "mlp";
    private readonly int[] _sizes;
    private readonly float[][] _weights;
    private readonly float[][] _biases;

    public MlpRouter(int[] sizes, float[][] weights, float[][] biases, JsonObject? training = null)
    {
        if (sizes.Length < 2 || weights.Length != sizes.Length - 1 || biases.Length != sizes.Length - 1)
        {
            throw new InvalidModelException("MLP layer arrays do not agree in number");
        }
        for (var l = 0; l < weights.Length; l++)
        {
            if (weights[l].Length != sizes[l] * sizes[l + 1] || biases[l].Length != sizes[l + 1])
            {
                throw new InvalidModelException($"MLP layer {l} arrays do not agree in size");
            }
        }
        _sizes = sizes;
        _weights = weights;
        _biases = biases;
        Training = training ?? [];
    }

    public string Type => TypeName;

    public int ModelCount => _sizes[^1];

    /// <summary>Epochs run, best epoch and losses, for metrics and logs.</summary>
    public JsonObject Training { get; }

    public void Predict(ReadOnlySpan<float> features, Span<float> scores)
    {
        var max = _sizes.Max();
        Span<float> a = max <= 2048 ? stackalloc float[max] : new float[max];
        Span<float> b = max <= 2048 ? stackalloc float[max] : new float[max];
        features.CopyTo(a);
        for (var l = 0; l < _weights.Length; l++)
        {
            var n = _sizes[l];
            var o = _sizes[l + 1];
            ForwardLayer(_weights[l], _biases[l], a[..n], b[..o], last: l == _weights.Length - 1);
            var t = a;
            a = b;
            b = t;
        }
        a[..ModelCount].CopyTo(scores);
    }

    /// <summary>
    /// One layer, weights stored input-major ([in][out]): each non-zero input adds its row, so
    /// sparse TF-IDF vectors and ReLU zeros cost nothing and every step is a SIMD multiply-add.
    /// </summary>
    internal static void ForwardLayer(float[] w, float[] bias, ReadOnlySpan<float> input, Span<float> output, bool last)
    {
        var o = output.Length;
        bias.CopyTo(output);
        for (var i = 0; i < input.Length; i++)
        {
            var v = input[i];
            if (v != 0f)
            {
                TensorPrimitives.MultiplyAdd(w.AsSpan(i * o, o), v, output, output);
            }
        }
        if (last)
        {
            TensorPrimitives.Sigmoid(output, output);
        }
        else
        {
            TensorPrimitives.Max(output, 0f, output);
        }
    }

    /// <summary>
    /// Trains on the observed scores only; with logged data each (query, model) term of the loss is
    /// weighted by its clipped inverse propensity (<paramref name="ipsClip"/>).
    /// </summary>
    public static MlpRouter Train(float[] x, int dimension, RoutingDataset data, MlpOptions options, Action<string>? log = null, double ipsClip = ScoreMatrix.DefaultIpsClip)
    {
        var observationWeights = ScoreMatrix.Weights(data, ipsClip);
        options.Validate();
        var n = data.Samples.Count;
        var m = data.ModelCount;
        int[] sizes = [dimension, .. options.HiddenDims, m];
        var rng = new SeededRandom(options.Seed);
        var weights = new float[sizes.Length - 1][];
        var biases = new float[sizes.Length - 1][];
        for (var l = 0; l < weights.Length; l++)
        {
            weights[l] = new float[sizes[l] * sizes[l + 1]];
            biases[l] = new float[sizes[l + 1]];
            var scale = Math.Sqrt(2.0 / sizes[l]);
            for (var i = 0; i < weights[l].Length; i++)
            {
                weights[l][i] = (float)(rng.NextGaussian() * scale);
            }
        }
        // Output biases start at the models' mean scores (in logit space) so training starts from the best constant guess.
        var means = ScoreMatrix.ColumnMeans(data, observationWeights);
        for (var j = 0; j < m; j++)
        {
            var p = Math.Clamp(means[j], 1e-3f, 1 - 1e-3f);
            biases[^1][j] = MathF.Log(p / (1 - p));
        }

        var order = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(order);
        var validationCount = n >= 20 ? (int)(n * options.ValidationFraction) : 0;
        var validation = order[..validationCount];
        var train = order[validationCount..];
        var trainer = new Trainer(sizes, weights, biases, options, observationWeights);
        var best = (Loss: double.PositiveInfinity, Epoch: 0, Weights: Clone(weights), Biases: Clone(biases));
        var epochsRun = 0;
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            epochsRun = epoch;
            rng.Shuffle(train);
            var trainLoss = 0.0;
            for (var start = 0; start < train.Length; start += options.BatchSize)
            {
                var batch = train.AsSpan(start, Math.Min(options.BatchSize, train.Length - start));
                trainLoss += trainer.Step(x, data, batch);
            }
            trainLoss /= Math.Max(1, train.Length);
            var validationLoss = validationCount > 0 ? trainer.Loss(x, data, validation) / validationCount : trainLoss;
            log?.Invoke($"epoch {epoch}/{options.Epochs} train_loss={trainLoss:F5} validation_loss={validationLoss:F5}");
            if (validationLoss < best.Loss - 1e-6)
            {
                best = (validationLoss, epoch, Clone(weights), Clone(biases));
            }
            else if (epoch - best.Epoch >= options.Patience)
            {
                log?.Invoke($"early stop: no improvement for {options.Patience} epochs, keeping epoch {best.Epoch}");
                break;
            }
        }
        var training = new JsonObject
        {
            ["epochs_run"] = epochsRun,
            ["best_epoch"] = best.Epoch,
            ["validation_loss"] = Math.Round(best.Loss, 6),
        };
        return new MlpRouter(sizes, best.Weights, best.Biases, training);
    }

    private static float[][] Clone(float[][] arrays) => arrays.Select(a => (float[])a.Clone()).ToArray();

    public void Write(JsonObject header, ModelFileWriter writer)
    {
        header["router"] = new JsonObject
        {
            ["type"] = TypeName,
            ["layer_sizes"] = new JsonArray(_sizes.Select(s => (JsonNode)s).ToArray()),
        };
        for (var l = 0; l < _weights.Length; l++)
        {
            writer.Add($"mlp.w{l}", _weights[l], _sizes[l], _sizes[l + 1]);
            writer.Add($"mlp.b{l}", _biases[l], _sizes[l + 1]);
        }
    }

    public static MlpRouter Read(JsonObject router, ModelFileReader reader, int dimension, int modelCount)
    {
        var sizes = ModelHeader.Doubles(router, "layer_sizes").Select(d => d is >= 1 and <= 1 << 22 && d == Math.Floor(d) ? (int)d : throw new InvalidModelException("header field 'layer_sizes' is invalid")).ToArray();
        if (sizes.Length < 2 || sizes[0] != dimension || sizes[^1] != modelCount)
        {
            throw new InvalidModelException($"MLP layer sizes [{string.Join(',', sizes)}] do not match dimension {dimension} and {modelCount} models");
        }
        var weights = new float[sizes.Length - 1][];
        var biases = new float[sizes.Length - 1][];
        for (var l = 0; l < weights.Length; l++)
        {
            weights[l] = reader.Array($"mlp.w{l}", sizes[l], sizes[l + 1]);
            biases[l] = reader.Array($"mlp.b{l}", sizes[l + 1]);
        }
        return new MlpRouter(sizes, weights, biases);
    }

    /// <summary>Back-propagation and AdamW state; single-threaded so results are bit-for-bit reproducible.</summary>
    private sealed class Trainer
    {
        private readonly int[] _sizes;
        private readonly float[][] _w;
        private readonly float[][] _b;
        private readonly float[][] _gw;
        private readonly float[][] _gb;
        private readonly float[][] _mw;
        private readonly float[][] _vw;
        private readonly float[][] _mb;
        private readonly float[][] _vb;
        private readonly float[][] _act;
        private readonly float[][] _delta;
        private readonly MlpOptions _options;
        private readonly float[]? _observationWeights;
        private int _step;
        private float[] _scratch = [];

        public Trainer(int[] sizes, float[][] w, float[][] b, MlpOptions options, float[]? observationWeights)
        {
            _observationWeights = observationWeights;
            _sizes = sizes;
            _w = w;
            _b = b;
            _options = options;
            _gw = w.Select(a => new float[a.Length]).ToArray();
            _gb = b.Select(a => new float[a.Length]).ToArray();
            _mw = w.Select(a => new float[a.Length]).ToArray();
            _vw = w.Select(a => new float[a.Length]).ToArray();
            _mb = b.Select(a => new float[a.Length]).ToArray();
            _vb = b.Select(a => new float[a.Length]).ToArray();
            _act = sizes.Select(s => new float[s]).ToArray();
            _delta = sizes.Select(s => new float[s]).ToArray();
        }

        private void Forward(ReadOnlySpan<float> x)
        {
            x.CopyTo(_act[0]);
            for (var l = 0; l < _w.Length; l++)
            {
                ForwardLayer(_w[l], _b[l], _act[l], _act[l + 1], last: l == _w.Length - 1);
            }
        }

        private float Weight(int i, int j) => _observationWeights is null ? 1f : _observationWeights[i * _sizes[^1] + j];

        private double SampleLoss(int i, float[] y, float[] target)
        {
            var loss = 0.0;
            for (var j = 0; j < y.Length; j++)
            {
                if (!float.IsNaN(target[j]))
                {
                    var p = Math.Clamp(y[j], 1e-6f, 1 - 1e-6f);
                    loss -= Weight(i, j) * (target[j] * Math.Log(p) + (1 - target[j]) * Math.Log(1 - p));
                }
            }
            return loss;
        }

        public double Loss(float[] x, RoutingDataset data, ReadOnlySpan<int> rows)
        {
            var d = _sizes[0];
            var loss = 0.0;
            foreach (var i in rows)
            {
                Forward(x.AsSpan(i * d, d));
                loss += SampleLoss(i, _act[^1], data.Samples[i].Scores);
            }
            return loss;
        }

        public double Step(float[] x, RoutingDataset data, ReadOnlySpan<int> batch)
        {
            var d = _sizes[0];
            foreach (var g in _gw)
            {
                Array.Clear(g);
            }
            foreach (var g in _gb)
            {
                Array.Clear(g);
            }
            var loss = 0.0;
            var scale = 1f / batch.Length;
            foreach (var i in batch)
            {
                Forward(x.AsSpan(i * d, d));
                var target = data.Samples[i].Scores;
                var y = _act[^1];
                loss += SampleLoss(i, y, target);
                var top = _delta[^1];
                for (var j = 0; j < y.Length; j++)
                {
                    // Sigmoid + cross-entropy: the gradient at the logit is simply y − t (an unobserved score teaches nothing).
                    top[j] = float.IsNaN(target[j]) ? 0f : (y[j] - target[j]) * scale * Weight(i, j);
                }
                for (var l = _w.Length - 1; l >= 0; l--)
                {
                    var o = _sizes[l + 1];
                    var delta = _delta[l + 1];
                    var input = _act[l];
                    TensorPrimitives.Add(_gb[l], delta, _gb[l]);
                    var below = _delta[l];
                    for (var k = 0; k < input.Length; k++)
                    {
                        var v = input[k];
                        if (v == 0f)
                        {
                            // Zero input (sparse feature or inactive ReLU): no weight gradient, and no gradient flows below.
                            below[k] = 0f;
                            continue;
                        }
                        var row = _gw[l].AsSpan(k * o, o);
                        TensorPrimitives.MultiplyAdd(delta, v, row, row);
                        if (l > 0)
                        {
                            below[k] = TensorPrimitives.Dot(_w[l].AsSpan(k * o, o), delta);
                        }
                    }
                }
            }
            _step++;
            for (var l = 0; l < _w.Length; l++)
            {
                Adam(_w[l], _gw[l], _mw[l], _vw[l], (float)_options.WeightDecay);
                Adam(_b[l], _gb[l], _mb[l], _vb[l], 0f);
            }
            return loss;
        }

        private void Adam(float[] p, float[] g, float[] m, float[] v, float decay)
        {
            // AdamW in whole-array SIMD passes; the same arithmetic on every machine keeps training reproducible.
            const float beta1 = 0.9f;
            const float beta2 = 0.999f;
            const float eps = 1e-8f;
            var lr = (float)_options.LearningRate;
            var c1 = 1f / (1f - MathF.Pow(beta1, _step));
            var c2 = 1f / (1f - MathF.Pow(beta2, _step));
            if (_scratch.Length < p.Length)
            {
                _scratch = new float[p.Length];
            }
            var tmp = _scratch.AsSpan(0, p.Length);
            TensorPrimitives.Multiply(m, beta1, m);
            TensorPrimitives.MultiplyAdd(g, 1 - beta1, m, m);
            TensorPrimitives.Multiply(g, g, tmp);
            TensorPrimitives.Multiply(v, beta2, v);
            TensorPrimitives.MultiplyAdd(tmp, 1 - beta2, v, v);
            TensorPrimitives.Multiply(v, c2, tmp);
            TensorPrimitives.Sqrt(tmp, tmp);
            TensorPrimitives.Add(tmp, eps, tmp);
            TensorPrimitives.Divide(m, tmp, tmp);
            TensorPrimitives.Multiply(tmp, c1, tmp);
            if (decay != 0f)
            {
                TensorPrimitives.MultiplyAdd(p, decay, tmp, tmp);
            }
            TensorPrimitives.MultiplyAdd(tmp, -lr, p, p);
        }
    }
}
