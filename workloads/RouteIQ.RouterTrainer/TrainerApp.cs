using System.Collections;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RouteIQ.Artifacts;
using RouteIQ.Routing;

namespace RouteIQ.RouterTrainer;

/// <summary>
/// The <c>routeiq/router-trainer</c> workload: reads a dataset, trains a kNN / MLP / MF router,
/// evaluates it on a held-out split, and writes <c>router.model</c> + <c>metrics.json</c> into
/// <c>ROUTEIQ_OUTPUT_DIR</c>. Exit codes: 0 success, 2 bad input or configuration, 1 anything else.
/// </summary>
public static class TrainerApp
{
    public static async Task<int> RunAsync(string[] args, IDictionary environment, TextWriter log, TextWriter error, CancellationToken cancellationToken)
    {
        var sw = Stopwatch.StartNew();
        void Log(string message) => log.WriteLine($"[router-trainer {sw.Elapsed.TotalSeconds,6:F1}s] {message}");
        try
        {
            var settings = TrainerSettings.Parse(args, environment);
            Log($"router type {settings.Spec.RouterType}, seed {settings.Spec.Seed}, operating point {settings.Target}");
            var (train, test) = await LoadAsync(settings, Log, cancellationToken);
            Log($"training on {train.Samples.Count} queries, evaluating on {test.Samples.Count} held-out queries, {train.ModelCount} candidate models");
            var calibrated = Calibrate(settings, train, Log);
            var calibration = calibrated?.Calibration;
            var spec = settings.Spec with { CostWeight = calibration?.Chosen.CostWeight ?? settings.Target.Value };
            // A ratio target serves the router the curve was measured on (trained without the validation
            // queries), so the chosen point holds on new queries; a raw cost weight retrains on everything.
            RouterModel model;
            if (calibrated is { } c && settings.Target.Kind != OperatingTarget.CostWeight)
            {
                model = c.Router;
                Log($"serving the calibrated router (trained on {train.Samples.Count - calibration!.ValidationQueries} queries) at cost weight {spec.CostWeight:G4}");
            }
            else
            {
                calibrated?.Router.Dispose();
                model = spec.Train(train, Log, featurizeParallelism: Environment.ProcessorCount);
            }
            using var _ = model;
            Directory.CreateDirectory(settings.OutputDirectory);
            var path = model.Save(settings.OutputDirectory);
            Log($"wrote {path} ({new FileInfo(path).Length} bytes)");
            var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal)
            {
                ["train_queries"] = train.Samples.Count,
                ["models"] = train.ModelCount,
                ["cost_weight"] = Math.Round(spec.CostWeight, 9),
            };
            if (test.Samples.Count > 0)
            {
                var predicted = RoutingEvaluator.Predict(model, test);
                var result = RoutingEvaluator.Evaluate(settings.Spec.RouterType, predicted, train, test, spec.CostWeight);
                foreach (var (k, v) in result.ToMetrics())
                {
                    metrics[k] = Math.Round(v, 6);
                }
                var sweep = RoutingEvaluator.Sweep(predicted, train, test, RoutingEvaluator.DefaultSweep);
                foreach (var p in sweep)
                {
                    var key = p.CostWeight.ToString("0.###", CultureInfo.InvariantCulture);
                    metrics[$"sweep.{key}.avg_quality"] = Math.Round(p.AverageQuality, 6);
                    metrics[$"sweep.{key}.avg_price"] = Math.Round(p.AveragePrice, 6);
                }
                Log($"held-out: avg quality {result.AverageQuality:F4} ({result.PercentOfOracle:F1} % of oracle), routing accuracy {result.RoutingAccuracy:P1}, " +
                    $"avg price ${result.AveragePrice:F3}/M; best single {result.BestSingleModel} {result.BestSingleQuality:F4} at ${result.BestSinglePrice:F2}/M");
            }
            else
            {
                Log("no held-out queries (TEST_SPLIT=0 and no test file): metrics hold no evaluation");
            }
            await File.WriteAllTextAsync(Path.Combine(settings.OutputDirectory, "metrics.json"),
                TrainerMetrics.Render(metrics, calibration), cancellationToken);
            Log("done");
            return 0;
        }
        catch (RoutingDataException ex)
        {
            error.WriteLine($"router-trainer: invalid input: {ex.Message}");
            return 2;
        }
        catch (ArgumentException ex)
        {
            error.WriteLine($"router-trainer: invalid input: {ex.Message}");
            return 2;
        }
        catch (ArtifactNotFoundException ex)
        {
            error.WriteLine($"router-trainer: invalid input: ROUTEIQ_DATASET_URI: {ex.Message}");
            return 2;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"router-trainer: I/O failure: {ex.Message}");
            return 1;
        }
        catch (Exception ex)
        {
            error.WriteLine($"router-trainer: failed: {ex.GetType().Name}: {ex.Message}");
            return 1;
        }
    }

    /// <summary>
    /// Sweeps the cost trade-off on a validation split carved from the training queries (never the
    /// test split) with a router trained on the rest, and picks the operating point the target asks for.
    /// Null when there is too little data to carve a split and the target is a raw cost weight.
    /// </summary>
    public static (Calibration Calibration, RouterModel Router)? Calibrate(TrainerSettings settings, RoutingDataset train, Action<string> log)
    {
        log($"calibrating the operating point on a validation split ({settings.CalibrationSplit:P0}) carved from the training data");
        var calibration = OperatingPoints.CalibrateSpec(settings.Spec, train, settings.Target, settings.CalibrationSplit, Environment.ProcessorCount);
        if (calibration is null)
        {
            if (settings.Target.Kind != OperatingTarget.CostWeight)
            {
                throw new RoutingDataException(settings.Target.Kind, "needs a validation split to calibrate on: CALIBRATION_SPLIT > 0 and at least 40 training queries");
            }
            log("no validation split (CALIBRATION_SPLIT=0 or under 40 queries): no quality–price curve");
            return null;
        }
        var c = calibration.Value.Calibration.Chosen;
        log($"{calibration.Value.Calibration.ValidationQueries} validation queries; operating point {settings.Target}: cost weight {c.CostWeight:G4}, validation quality {c.Quality:F4} ({c.QualityRatio:P1} of {calibration.Value.Calibration.BestSingleModel}) at {c.PriceRatio:P1} of its price" +
            (calibration.Value.Calibration.TargetMet ? "" : " (target not reachable: closest point taken)"));
        return calibration;
    }

    public static async Task<(RoutingDataset Train, RoutingDataset Test)> LoadAsync(TrainerSettings settings, Action<string> log, CancellationToken cancellationToken)
    {
        if (settings.DatasetUri is { } uri)
        {
            log($"reading built dataset {uri}");
            var store = ArtifactStoreFactory.Open(uri.EndsWith('/') ? uri : uri + "/");
            try
            {
                var catalogue = settings.LlmDataPath is { } llm ? ReadCatalogue(llm) : await ReadCatalogueAsync(store, cancellationToken);
                var train = await ReadJsonlAsync(store, "routing_train.jsonl", catalogue, cancellationToken)
                    ?? throw new RoutingDataException("ROUTEIQ_DATASET_URI", $"'{uri}' has no routing_train.jsonl");
                var test = await ReadJsonlAsync(store, "routing_test.jsonl", catalogue, cancellationToken);
                return test is null || test.Samples.Count == 0 ? train.Split(settings.TestSplit, settings.Spec.Seed) : (train, Align(test, train));
            }
            finally
            {
                (store as IDisposable)?.Dispose();
            }
        }
        var path = settings.DatasetPath!;
        if (!File.Exists(path))
        {
            throw new RoutingDataException("DATASET_PATH", $"file '{path}' does not exist");
        }
        var catalogueForFile = settings.LlmDataPath is { } llmPath
            ? ReadCatalogue(llmPath)
            : File.Exists(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "llm_data.json"))
                ? ReadCatalogue(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "llm_data.json"))
                : throw new RoutingDataException("LLM_DATA_PATH", "required with DATASET_PATH: the model catalogue with prices");
        log($"reading {path}");
        var data = ReadFile(path, catalogueForFile);
        if (settings.TestDatasetPath is { } testPath)
        {
            if (!File.Exists(testPath))
            {
                throw new RoutingDataException("TEST_DATASET_PATH", $"file '{testPath}' does not exist");
            }
            return (data, Align(ReadFile(testPath, catalogueForFile), data));
        }
        return data.Split(settings.TestSplit, settings.Spec.Seed);
    }

    private static RoutingDataset ReadFile(string path, Dictionary<string, double> catalogue)
    {
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
        {
            using var reader = new StreamReader(path);
            return DatasetLoader.ReadRoutingJsonl(reader, path, catalogue);
        }
        using var stream = File.OpenRead(path);
        return DatasetLoader.ReadLabelledJson(stream, path, catalogue);
    }

    private static Dictionary<string, double> ReadCatalogue(string path)
    {
        if (!File.Exists(path))
        {
            throw new RoutingDataException("LLM_DATA_PATH", $"file '{path}' does not exist");
        }
        using var stream = File.OpenRead(path);
        return DatasetLoader.ReadCatalogue(stream, "LLM_DATA_PATH");
    }

    private static async Task<Dictionary<string, double>> ReadCatalogueAsync(IArtifactStore store, CancellationToken cancellationToken)
    {
        if (!await store.ExistsAsync("llm_data.json", cancellationToken))
        {
            throw new RoutingDataException("ROUTEIQ_DATASET_URI", "the dataset has no llm_data.json (set LLM_DATA_PATH to a model catalogue)");
        }
        await using var stream = await store.OpenReadAsync("llm_data.json", cancellationToken);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, cancellationToken);
        buffer.Position = 0;
        return DatasetLoader.ReadCatalogue(buffer, "llm_data.json");
    }

    private static async Task<RoutingDataset?> ReadJsonlAsync(IArtifactStore store, string key, Dictionary<string, double> catalogue, CancellationToken cancellationToken)
    {
        if (!await store.ExistsAsync(key, cancellationToken))
        {
            return null;
        }
        await using var stream = await store.OpenReadAsync(key, cancellationToken);
        using var reader = new StreamReader(stream);
        var text = await reader.ReadToEndAsync(cancellationToken);
        if (string.IsNullOrWhiteSpace(text))
        {
            return key == "routing_test.jsonl" ? null : throw new RoutingDataException("ROUTEIQ_DATASET_URI", $"{key} is empty");
        }
        return DatasetLoader.ReadRoutingJsonl(new StringReader(text), key, catalogue);
    }

    /// <summary>Re-orders a test set's score columns to the training set's models (absent models are unobserved).</summary>
    private static RoutingDataset Align(RoutingDataset test, RoutingDataset train)
    {
        var map = train.Models.Select(m => test.Models.ToList().IndexOf(m)).ToArray();
        return train.WithSamples(test.Samples.Select(s => new RoutingSample(s.Query, map.Select(j => j < 0 ? float.NaN : s.Scores[j]).ToArray(),
            s.Propensities is { } p ? map.Select(j => j < 0 ? float.NaN : p[j]).ToArray() : null)).ToList());
    }
}
