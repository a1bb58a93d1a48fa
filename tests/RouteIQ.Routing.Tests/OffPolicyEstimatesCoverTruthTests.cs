using RouteIQ.Routing;
using Xunit.Abstractions;

namespace RouteIQ.Routing.Tests;

/// <summary>
/// Off-policy evaluation on a synthetic world with a known truth: contexts x ~ U(0,1), four
/// models with expected label μ(x, a), Bernoulli labels, an exploring logging policy with known
/// propensities, a deterministic target policy that differs from it, and an imperfect reward model.
/// </summary>
public sealed class OffPolicyEstimatesCoverTruthTests(ITestOutputHelper output)
{
    private const int Models = 4;

    private static double Mu(double x, int a) => 0.5 + 0.35 * Math.Cos(2 * Math.PI * (x - (double)a / Models));

    /// <summary>The logging policy: 70 % a softmax on a noisy view of μ, 30 % uniform.</summary>
    private static double[] Logging(double x)
    {
        var p = new double[Models];
        var sum = 0.0;
        for (var a = 0; a < Models; a++)
        {
            p[a] = Math.Exp((Mu(x, a) + 0.2 * Math.Sin(11 * x + a)) / 0.15);
            sum += p[a];
        }
        for (var a = 0; a < Models; a++)
        {
            p[a] = 0.7 * p[a] / sum + 0.3 / Models;
        }
        return p;
    }

    /// <summary>The evaluated policy: prefers cheap models (a penalty that grows with a), so it differs from the logging policy.</summary>
    private static int Target(double x)
    {
        var best = 0;
        for (var a = 1; a < Models; a++)
        {
            if (Mu(x, a) - 0.12 * a > Mu(x, best) - 0.12 * best)
            {
                best = a;
            }
        }
        return best;
    }

    /// <summary>A biased reward model (what the router's predicted scores are): optimistic by 0.08 and off by up to 0.18.</summary>
    private static float RewardModel(double x, int a) => (float)Math.Clamp(Mu(x, a) + 0.08 + 0.1 * Math.Sin(7 * x + 2 * a), 0, 1);

    private static readonly double Truth = ComputeTruth();

    private static double ComputeTruth()
    {
        // E_x μ(x, π(x)) by a fine midpoint rule over x ∈ (0, 1).
        const int steps = 1_000_000;
        var sum = 0.0;
        for (var i = 0; i < steps; i++)
        {
            var x = (i + 0.5) / steps;
            sum += Mu(x, Target(x));
        }
        return sum / steps;
    }

    private static (OffPolicyResult Result, double LoggingTruth) Trial(int n, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var logged = new LoggedChoice[n];
        var policy = new double[n][];
        var reward = new float[n][];
        for (var i = 0; i < n; i++)
        {
            var x = rng.NextDouble();
            var p = Logging(x);
            var u = rng.NextDouble();
            var a = 0;
            for (var acc = p[0]; a < Models - 1 && u >= acc; acc += p[++a])
            {
            }
            var label = rng.NextDouble() < Mu(x, a) ? 1.0 : 0.0;
            logged[i] = new LoggedChoice(a, label, p[a]);
            policy[i] = new double[Models];
            policy[i][Target(x)] = 1;
            reward[i] = Enumerable.Range(0, Models).Select(m => RewardModel(x, m)).ToArray();
        }
        return (OffPolicyEvaluator.Estimate(logged, policy, reward), 0);
    }

    [Fact]
    public void Dr_on_ten_thousand_logged_decisions_is_within_0_03_of_the_truth_and_its_interval_covers_it()
    {
        var (r, _) = Trial(10_000, 20261201);
        output.WriteLine($"truth {Truth:F4}; dr {r.Dr}; ips {r.Ips}; snips {r.Snips}; logging mean {r.LoggingPolicyMean:F4}; matched {r.Matched}");
        // The evaluated policy really differs from the logging policy (else OPE is trivial).
        Assert.True(Math.Abs(r.LoggingPolicyMean - Truth) > 0.05, $"logging mean {r.LoggingPolicyMean} too close to the truth {Truth}");
        Assert.True(r.Matched < r.N * 0.6);
        Assert.True(Math.Abs(r.Dr.Value - Truth) <= 0.03, $"|DR − truth| = {Math.Abs(r.Dr.Value - Truth)}");
        Assert.True(r.Dr.Covers(Truth), $"DR interval {r.Dr} misses {Truth}");
        Assert.True(r.Dr.CiLow < r.Dr.Value && r.Dr.Value < r.Dr.CiHigh);
        Assert.True(r.Ips.Covers(Truth) || Math.Abs(r.Ips.Value - Truth) < 0.05);
        Assert.True(Math.Abs(r.Snips.Value - Truth) < 0.05);
    }

    [Fact]
    public void Dr_interval_coverage_is_at_least_90_percent_over_200_seeded_random_trials()
    {
        var baseSeed = (ulong)Random.Shared.NextInt64(1, long.MaxValue);
        output.WriteLine($"base seed {baseSeed}");
        var covered = 0;
        var ipsCovered = 0;
        const int trials = 200;
        for (var t = 0; t < trials; t++)
        {
            var (r, _) = Trial(2_000, StableHash.Mix(baseSeed + (ulong)t));
            covered += r.Dr.Covers(Truth) ? 1 : 0;
            ipsCovered += r.Ips.Covers(Truth) ? 1 : 0;
        }
        output.WriteLine($"DR coverage {covered}/{trials}, IPS coverage {ipsCovered}/{trials}");
        Assert.True(covered >= 0.9 * trials, $"DR covered the truth in {covered}/{trials} trials (base seed {baseSeed})");
    }

    [Fact]
    public void A_reward_model_alone_would_be_biased_so_the_correction_term_matters()
    {
        // The direct method (reward model only) on the same world misses by more than DR does.
        var rng = new SeededRandom(7);
        var direct = 0.0;
        const int n = 10_000;
        for (var i = 0; i < n; i++)
        {
            var x = rng.NextDouble();
            direct += RewardModel(x, Target(x));
        }
        direct /= n;
        var (r, _) = Trial(n, 7);
        output.WriteLine($"direct {direct:F4} dr {r.Dr.Value:F4} truth {Truth:F4}");
        Assert.True(Math.Abs(direct - Truth) > 2 * Math.Abs(r.Dr.Value - Truth));
    }

    [Fact]
    public void Bad_propensities_are_refused_naming_the_field()
    {
        var ex = Assert.Throws<RoutingDataException>(() => OffPolicyEvaluator.Estimate([new LoggedChoice(0, 1, 0)], [[1.0]], [[0.5f]]));
        Assert.Equal("propensity", ex.Field);
    }
}
