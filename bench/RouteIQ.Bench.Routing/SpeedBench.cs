using System.Diagnostics;
using RouteIQ.Routing;

namespace RouteIQ.Bench.Routing;

public static class SpeedBench
{
    public static int Run(RoutingDataset data, string[] args)
    {
        var runs = 5;
        var only = args.FirstOrDefault();
        foreach (var (name, spec) in new[] { ("knn", QualityBench.RecommendedKnn), ("mlp", QualityBench.RecommendedMlp), ("mf", new RouterSpec { RouterType = "mf" }) })
        {
            if (only is not null && only != name)
            {
                continue;
            }
            var trainTimes = new List<double>();
            RouterModel? model = null;
            for (var r = 0; r < (name == "mf" ? 1 : 3); r++)
            {
                model?.Dispose();
                var sw = Stopwatch.StartNew();
                model = spec.Train(data, featurizeParallelism: Environment.ProcessorCount);
                trainTimes.Add(sw.Elapsed.TotalSeconds);
            }
            var queries = data.Samples.Select(s => s.Query).ToArray();
            if (model!.Head is KnnRouter knn)
            {
                Console.WriteLine($"knn index lists: {string.Join(' ', knn.ListSizes.Order())}");
            }
            // Single-threaded latency of one query, featurization included.
            foreach (var q in queries.Take(500))
            {
                model!.Route(q);
            }
            var latencies = new List<double>();
            var order = Enumerable.Range(0, queries.Length).ToArray();
            new SeededRandom(7).Shuffle(order);
            foreach (var i in order.Take(3000))
            {
                var t = Stopwatch.GetTimestamp();
                model!.Route(queries[i]);
                latencies.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
            latencies.Sort();
            var featureTimes = new List<double>();
            var buffer = new float[model!.Featurizer.Dimension];
            foreach (var i in order.Take(3000))
            {
                var t = Stopwatch.GetTimestamp();
                model.Featurizer.Featurize(queries[i], buffer);
                featureTimes.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
            featureTimes.Sort();
            var throughputs = new List<double>();
            for (var r = 0; r < runs; r++)
            {
                var sw = Stopwatch.StartNew();
                model!.RouteBatch(queries, maxDegreeOfParallelism: 2);
                throughputs.Add(queries.Length / sw.Elapsed.TotalSeconds);
            }
            Console.WriteLine($"{name}: train median {Median(trainTimes):F2} s (runs: {string.Join(", ", trainTimes.Select(t => t.ToString("F2")))}); " +
                $"route p50 {latencies[latencies.Count / 2]:F3} ms (featurization alone p50 {featureTimes[featureTimes.Count / 2]:F3} ms), p99 {latencies[(int)(latencies.Count * 0.99)]:F3} ms; " +
                $"batch (2 threads) median {Median(throughputs):F0} q/s");
            model!.Dispose();
        }
        return 0;
    }

    private static double Median(List<double> values)
    {
        var s = values.Order().ToList();
        return s[s.Count / 2];
    }
}
