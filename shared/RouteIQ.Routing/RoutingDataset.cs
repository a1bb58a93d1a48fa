namespace RouteIQ.Routing;

/// <summary>
/// One query with the observed quality of each candidate model (NaN where a model was not observed)
/// and, for logged data, the probability the logging policy had of choosing each observed model
/// (<see cref="Propensities"/>: null, or NaN for a model, means 1 — a full-information label).
/// </summary>
public sealed record RoutingSample(string Query, float[] Scores, float[]? Propensities = null)
{
    /// <summary>The propensity of model <paramref name="m"/>'s observation (1 when unknown).</summary>
    public float Propensity(int m) => Propensities is { } p && !float.IsNaN(p[m]) ? p[m] : 1f;
}

/// <summary>Queries × models score matrix plus the price of each model (USD per million tokens).</summary>
public sealed class RoutingDataset
{
    public RoutingDataset(IReadOnlyList<string> models, IReadOnlyList<double> prices, IReadOnlyList<RoutingSample> samples)
    {
        if (models.Count == 0)
        {
            throw new RoutingDataException("models", "the dataset names no candidate models");
        }
        if (prices.Count != models.Count)
        {
            throw new RoutingDataException("prices", $"{prices.Count} prices for {models.Count} models");
        }
        foreach (var s in samples)
        {
            if (s.Scores.Length != models.Count)
            {
                throw new RoutingDataException("scores", $"query '{Truncate(s.Query)}' has {s.Scores.Length} scores for {models.Count} models");
            }
            if (s.Propensities is { } p && (p.Length != models.Count || p.Any(v => !float.IsNaN(v) && v is <= 0 or > 1)))
            {
                throw new RoutingDataException("propensity", $"query '{Truncate(s.Query)}' needs {models.Count} propensities in (0, 1]");
            }
        }
        Models = models;
        Prices = prices;
        Samples = samples;
    }

    public IReadOnlyList<string> Models { get; }

    public IReadOnlyList<double> Prices { get; }

    public IReadOnlyList<RoutingSample> Samples { get; }

    public int ModelCount => Models.Count;

    public RoutingDataset WithSamples(IReadOnlyList<RoutingSample> samples) => new(Models, Prices, samples);

    /// <summary>True when some observation carries a propensity below 1 (logged, partial feedback).</summary>
    public bool HasPropensities => Samples.Any(s => s.Propensities is { } p && p.Any(v => !float.IsNaN(v) && v < 1f));

    /// <summary>
    /// A seeded split by hash of the query text, so one query never lands on both sides and the
    /// same inputs always give the same split.
    /// </summary>
    public (RoutingDataset Train, RoutingDataset Test) Split(double testFraction, ulong seed)
    {
        if (testFraction is < 0 or >= 1)
        {
            throw new RoutingDataException("TEST_SPLIT", $"must be in [0, 1), got {testFraction}");
        }
        var train = new List<RoutingSample>();
        var test = new List<RoutingSample>();
        foreach (var s in Samples)
        {
            var bucket = (StableHash.String(s.Query, seed) >> 11) * (1.0 / (1UL << 53));
            (bucket < testFraction ? test : train).Add(s);
        }
        return (WithSamples(train), WithSamples(test));
    }

    /// <summary>Fold <paramref name="fold"/> of <paramref name="folds"/> as the held-out part, assigned by seeded hash of the query.</summary>
    public (RoutingDataset Train, RoutingDataset Test) Fold(int fold, int folds, ulong seed)
    {
        var train = new List<RoutingSample>();
        var test = new List<RoutingSample>();
        foreach (var s in Samples)
        {
            var f = (int)(StableHash.String(s.Query, seed) % (ulong)folds);
            (f == fold ? test : train).Add(s);
        }
        return (WithSamples(train), WithSamples(test));
    }

    internal static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";
}

/// <summary>Bad training or evaluation data; <see cref="Field"/> names what is wrong.</summary>
public sealed class RoutingDataException(string field, string problem) : Exception($"{field}: {problem}")
{
    public string Field { get; } = field;

    public string Problem { get; } = problem;
}
