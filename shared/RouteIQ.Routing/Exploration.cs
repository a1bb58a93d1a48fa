using System.Globalization;

namespace RouteIQ.Routing;

/// <summary>What an exploring router chose, with the probability it had of choosing it.</summary>
public readonly record struct ExplorationChoice(int ModelIndex, double Probability, string Reason);

/// <summary>
/// How a router server departs from its cost-aware favourite so that logged decisions show what
/// the other models do (<c>EXPLORATION</c>): <c>none</c> (always the favourite, probability 1),
/// <c>epsilon:&lt;e&gt;</c> (with probability e a model drawn uniformly) or
/// <c>softmax:&lt;temperature&gt;</c> (a model drawn with probability ∝ exp((score − λ·price)/T)).
/// A request id makes the draw deterministic: the same id always gets the same model.
/// </summary>
public sealed record ExplorationPolicy
{
    public const string SettingName = "EXPLORATION";
    public const string ReasonGreedy = "highest_score";
    public const string ReasonUniform = "uniform";
    public const string ReasonSoftmax = "softmax_sample";

    private ExplorationPolicy(string mode, double parameter)
    {
        Mode = mode;
        Parameter = parameter;
    }

    public static ExplorationPolicy None { get; } = new("none", 0);

    /// <summary><c>none</c>, <c>epsilon</c> or <c>softmax</c>.</summary>
    public string Mode { get; }

    /// <summary>ε for <c>epsilon</c>, the temperature for <c>softmax</c>.</summary>
    public double Parameter { get; }

    public override string ToString() => Mode == "none" ? "none" : $"{Mode}:{Parameter.ToString(CultureInfo.InvariantCulture)}";

    public static ExplorationPolicy Epsilon(double epsilon) => epsilon is >= 0 and <= 1
        ? new("epsilon", epsilon)
        : throw new RoutingDataException(SettingName, $"epsilon must be in [0, 1], got {epsilon}");

    public static ExplorationPolicy Softmax(double temperature) => temperature > 0 && double.IsFinite(temperature)
        ? new("softmax", temperature)
        : throw new RoutingDataException(SettingName, $"softmax temperature must be a positive number, got {temperature}");

    /// <summary>Parses the setting; null or empty is <c>none</c>. Errors name <c>EXPLORATION</c>.</summary>
    public static ExplorationPolicy Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.Trim() == "none")
        {
            return None;
        }
        var parts = text.Trim().Split(':', 2);
        if (parts.Length != 2 || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            throw new RoutingDataException(SettingName, $"expected none, epsilon:<e> or softmax:<temperature>, got '{text}'");
        }
        return parts[0] switch
        {
            "epsilon" => Epsilon(value),
            "softmax" => Softmax(value),
            _ => throw new RoutingDataException(SettingName, $"expected none, epsilon:<e> or softmax:<temperature>, got '{text}'"),
        };
    }

    /// <summary>The probability of each model under this policy for one query's predicted scores.</summary>
    public double[] Probabilities(ReadOnlySpan<float> scores, IReadOnlyList<double> prices, double costWeight)
    {
        var m = scores.Length;
        var p = new double[m];
        var greedy = Selection.Choose(scores, prices, costWeight);
        switch (Mode)
        {
            case "epsilon":
                for (var j = 0; j < m; j++)
                {
                    p[j] = Parameter / m;
                }
                p[greedy] += 1 - Parameter;
                break;
            case "softmax":
                var max = double.NegativeInfinity;
                for (var j = 0; j < m; j++)
                {
                    max = Math.Max(max, scores[j] - costWeight * prices[j]);
                }
                var sum = 0.0;
                for (var j = 0; j < m; j++)
                {
                    p[j] = Math.Exp((scores[j] - costWeight * prices[j] - max) / Parameter);
                    sum += p[j];
                }
                for (var j = 0; j < m; j++)
                {
                    p[j] /= sum;
                }
                break;
            default:
                p[greedy] = 1;
                break;
        }
        return p;
    }

    /// <summary>
    /// Chooses a model. With a <paramref name="requestId"/> the draw is a hash of it (the same id
    /// gets the same answer); without one it is random.
    /// </summary>
    public ExplorationChoice Choose(ReadOnlySpan<float> scores, IReadOnlyList<double> prices, double costWeight, string? requestId)
    {
        var greedy = Selection.Choose(scores, prices, costWeight);
        if (Mode == "none" || (Mode == "epsilon" && Parameter == 0))
        {
            return new ExplorationChoice(greedy, 1, ReasonGreedy);
        }
        var (u1, u2) = Draws(requestId);
        var p = Probabilities(scores, prices, costWeight);
        if (Mode == "epsilon")
        {
            if (u1 >= Parameter)
            {
                return new ExplorationChoice(greedy, p[greedy], ReasonGreedy);
            }
            var pick = Math.Min(scores.Length - 1, (int)(u2 * scores.Length));
            return new ExplorationChoice(pick, p[pick], ReasonUniform);
        }
        var acc = 0.0;
        var chosen = scores.Length - 1;
        for (var j = 0; j < scores.Length; j++)
        {
            acc += p[j];
            if (u1 < acc)
            {
                chosen = j;
                break;
            }
        }
        // A probability that underflowed still reports something in (0, 1].
        return new ExplorationChoice(chosen, Math.Max(p[chosen], double.Epsilon), chosen == greedy ? ReasonGreedy : ReasonSoftmax);
    }

    private static (double, double) Draws(string? requestId)
    {
        if (requestId is null)
        {
            return (Random.Shared.NextDouble(), Random.Shared.NextDouble());
        }
        var rng = new SeededRandom(StableHash.String(requestId, 0x5EED_E7B1_0A7C_0001UL));
        return (rng.NextDouble(), rng.NextDouble());
    }
}
