using System.Diagnostics;
using System.Globalization;
using RouteIQ.Routing;

namespace RouteIQ.Bench.Routing;

/// <summary>
/// <c>quality</c>: 5-fold cross-validation on the shared training file, each router beside the
/// best single model and the oracle, with PASS/FAIL on the target.
/// <c>speed</c>: training time, single-query latency and batch throughput.
/// <c>tune</c>: one spec from key=value arguments, CV figures for a sweep of λ.
/// </summary>
public static class BenchProgram
{
    public static async Task<int> RunAsync(string[] args)
    {
        var mode = args.FirstOrDefault() ?? "quality";
        var data = LoadShared(Environment.GetEnvironmentVariable("BENCH_DATA"), Environment.GetEnvironmentVariable("BENCH_LLM_DATA"));
        Console.WriteLine($"data: {data.Samples.Count} queries × {data.ModelCount} models; machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        await Task.Yield();
        return mode switch
        {
            "quality" => QualityBench.Run(data),
            "speed" => SpeedBench.Run(data, args.Skip(1).ToArray()),
            "tune" => QualityBench.Tune(data, args.Skip(1).ToArray()),
            "learning" => LearningBench.Run(data, args.Skip(1).ToArray()),
            "learning-speed" => LearningBench.Speed(data, args.Skip(1).ToArray()),
            _ => Usage(),
        };
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: dotnet run -c Release --project bench/RouteIQ.Bench.Routing -- quality|speed|tune|learning|learning-speed [key=value ...]");
        return 2;
    }

    public static RoutingDataset LoadShared(string? dataPath, string? llmPath)
    {
        dataPath ??= FindUp("shared/data/llmrouter-dcrouter-train.json") ?? "/work/shared/data/llmrouter-dcrouter-train.json";
        llmPath ??= Path.Combine(Path.GetDirectoryName(dataPath)!, "llmrouter-llm-candidates.json");
        using var catalogueStream = File.OpenRead(llmPath);
        var catalogue = DatasetLoader.ReadCatalogue(catalogueStream, llmPath);
        using var dataStream = File.OpenRead(dataPath);
        return DatasetLoader.ReadLabelledJson(dataStream, dataPath, catalogue);
    }

    private static string? FindUp(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    public static RouterSpec ParseSpec(IEnumerable<string> args, RouterSpec spec)
    {
        foreach (var arg in args)
        {
            var (k, v) = (arg.Split('=')[0], arg.Split('=')[1]);
            var d = k == "type" ? 0 : double.Parse(v, CultureInfo.InvariantCulture);
            spec = k switch
            {
                "type" => spec with { RouterType = v },
                "dim" => spec with { Tfidf = spec.Tfidf with { Dimension = (int)d } },
                "cmin" => spec with { Tfidf = spec.Tfidf with { CharNgramMin = (int)d } },
                "cmax" => spec with { Tfidf = spec.Tfidf with { CharNgramMax = (int)d } },
                "words" => spec with { Tfidf = spec.Tfidf with { WordNgramMax = (int)d } },
                "ww" => spec with { Tfidf = spec.Tfidf with { WordWeight = (float)d } },
                "k" => spec with { Knn = spec.Knn with { K = (int)d } },
                "power" => spec with { Knn = spec.Knn with { Power = d } },
                "lists" => spec with { Knn = spec.Knn with { Lists = (int)d } },
                "probe" => spec with { Knn = spec.Knn with { Probe = (int)d } },
                "prior" => spec with { Knn = spec.Knn with { PriorWeight = d } },
                "hidden" => spec with { Mlp = spec.Mlp with { HiddenDims = [(int)d] } },
                "epochs" => spec with { Mlp = spec.Mlp with { Epochs = (int)d }, Mf = spec.Mf with { Epochs = (int)d } },
                "lr" => spec with { Mlp = spec.Mlp with { LearningRate = d }, Mf = spec.Mf with { LearningRate = d } },
                "wd" => spec with { Mlp = spec.Mlp with { WeightDecay = d } },
                "batch" => spec with { Mlp = spec.Mlp with { BatchSize = (int)d } },
                "seed" => spec with { Seed = (ulong)d },
                "lambda" => spec with { CostWeight = d },
                _ => throw new ArgumentException($"unknown key {k}"),
            };
        }
        return spec;
    }
}
