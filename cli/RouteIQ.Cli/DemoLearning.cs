using System.Globalization;
using System.Text.Json.Nodes;
using RouteIQ.Routing;
using Spectre.Console;

namespace RouteIQ.Cli;

/// <summary>
/// The demo's learning story: the served router explores (<c>EXPLORATION=epsilon:0.3</c>, so each
/// answer carries <c>selection_probability</c>); what it served is the logging policy. The trained
/// router's own (greedy) choice is scored two ways — by the world's ground truth, and off-policy
/// (IPS, SNIPS, DR) from the logged, graded decisions alone — side by side with the logging policy.
/// </summary>
public static class DemoLearning
{
    /// <summary>The rollout setting that makes the demo's served router explore.</summary>
    public const string ServeExplorationKey = "RouteIQ:Rollout:ServeEnvironment:EXPLORATION";
    public const string ServeExploration = "epsilon:0.3";

    /// <summary>The router's own choice per answer (argmax of score − λ·price), whatever exploration served.</summary>
    public static List<int> GreedyChoices(JsonArray results)
    {
        var names = DemoWorld.Models.Select(m => m.Name).ToList();
        var prices = DemoWorld.Models.Select(m => m.Price).ToList();
        return results.Select(r =>
        {
            var scores = names.Select(n => (float)(r!["scores"]?[n]?.GetValue<double>() ?? 0)).ToArray();
            return Selection.Choose(scores, prices, r!["cost_weight"]?.GetValue<double>() ?? 0);
        }).ToList();
    }

    public static void Print(IReadOnlyList<DemoWorld.Query> queries, JsonArray results, int seed)
    {
        var names = DemoWorld.Models.Select(m => m.Name).ToList();
        var greedy = GreedyChoices(results);
        var rng = new Random(seed);
        var logged = new List<LoggedChoice>();
        var policy = new List<double[]>();
        var reward = new List<float[]>();
        double loggingTrue = 0, routerTrue = 0, loggingPrice = 0, routerPrice = 0;
        var explored = 0;
        for (var i = 0; i < queries.Count; i++)
        {
            var r = results[i]!;
            var served = names.IndexOf(r["model"]!.GetValue<string>());
            var p = r["selection_probability"]?.GetValue<double>() ?? 1;
            explored += r["selection_reason"]?.GetValue<string>() == ExplorationPolicy.ReasonUniform ? 1 : 0;
            var k = queries[i].KindIndex;
            // A judge's grade of the served answer: the ground truth plus noise.
            var grade = Math.Clamp(DemoWorld.TrueQuality(k, served) + 0.05 * (rng.NextDouble() * 2 - 1), 0, 1);
            logged.Add(new LoggedChoice(served, grade, p));
            var pi = new double[names.Count];
            pi[greedy[i]] = 1;
            policy.Add(pi);
            reward.Add(names.Select(n => (float)(r["scores"]?[n]?.GetValue<double>() ?? 0)).ToArray());
            loggingTrue += DemoWorld.TrueQuality(k, served);
            routerTrue += DemoWorld.TrueQuality(k, greedy[i]);
            loggingPrice += DemoWorld.Models[served].Price;
            routerPrice += DemoWorld.Models[greedy[i]].Price;
        }
        var n = queries.Count;
        var ope = OffPolicyEvaluator.Estimate(logged, policy, reward);
        static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"the trained router vs the logging policy ({ServeExploration} exploration, {explored} of {n} answers explored)")
            .AddColumn("policy").AddColumn(new TableColumn("true avg quality").RightAligned())
            .AddColumn(new TableColumn("estimated from the logs").RightAligned()).AddColumn(new TableColumn("avg price $/M tok").RightAligned());
        table.AddRow("logging policy (what was served)", F(loggingTrue / n), $"{F(ope.LoggingPolicyMean)} (mean grade)", F(loggingPrice / n));
        table.AddRow("trained router (its own choice)", F(routerTrue / n), Markup.Escape($"DR {F(ope.Dr.Value)} [{F(ope.Dr.CiLow)}, {F(ope.Dr.CiHigh)}]"), F(routerPrice / n));
        table.AddRow("", "", $"IPS {F(ope.Ips.Value)} · SNIPS {F(ope.Snips.Value)}", "");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"[grey]off-policy evaluation used only the {n} logged decisions (their selection_probability and graded label) and the router's scores; " +
            $"{ope.Matched} matched the router's own choice. `routeiq evaluate` does the same against a registered version and a dataset.[/]");
    }
}
