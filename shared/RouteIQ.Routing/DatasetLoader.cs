using System.Globalization;
using System.Text.Json;

namespace RouteIQ.Routing;

/// <summary>
/// Reads the training formats the trainer accepts: the labelled-query JSON array
/// (<c>[{"question", "scores": {model: score}}]</c>), the simple form
/// (<c>{"queries": [{"text", "best_model"}]}</c>), and LLMRouter routing JSONL
/// (<c>{"query", "model_name", "performance"}</c> per line), each with a model catalogue
/// (<c>{model: {"input_price", "output_price", ...}}</c>).
/// </summary>
public static class DatasetLoader
{
    /// <summary>Prices per model from a catalogue: the mean of input and output price per million tokens.</summary>
    public static Dictionary<string, double> ReadCatalogue(Stream json, string source)
    {
        using var doc = ParseJson(json, source);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            throw new RoutingDataException(source, "expected a JSON object {model: {input_price, output_price, ...}}");
        }
        var prices = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Object)
            {
                throw new RoutingDataException($"{source}: {p.Name}", "expected an object with input_price / output_price");
            }
            var input = ReadPrice(p.Value, "input_price", source, p.Name);
            var output = ReadPrice(p.Value, "output_price", source, p.Name);
            prices[p.Name] = input is null && output is null ? 0 : ((input ?? output)!.Value + (output ?? input)!.Value) / 2;
        }
        return prices;
    }

    private static double? ReadPrice(JsonElement e, string name, string source, string model)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var d) || d < 0 || !double.IsFinite(d))
        {
            throw new RoutingDataException($"{source}: {model}.{name}", $"expected a non-negative number, got {v.GetRawText()}");
        }
        return d;
    }

    /// <summary>Reads the labelled-query array or the simple <c>{"queries": [...]}</c> form, whichever the JSON is.</summary>
    public static RoutingDataset ReadLabelledJson(Stream json, string source, IReadOnlyDictionary<string, double> catalogue)
    {
        using var doc = ParseJson(json, source);
        var root = doc.RootElement;
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("queries", out var queries))
        {
            return ReadSimpleForm(queries, source, catalogue);
        }
        if (root.ValueKind != JsonValueKind.Array)
        {
            throw new RoutingDataException(source, "expected a JSON array of {\"question\", \"scores\"} or an object {\"queries\": [{\"text\", \"best_model\"}]}");
        }
        var models = new List<string>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var rows = new List<(string Query, List<(int Model, float Score)> Scores)>();
        var i = 0;
        foreach (var item in root.EnumerateArray())
        {
            var where = $"{source}[{i++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw new RoutingDataException(where, "expected an object {\"question\", \"scores\"}");
            }
            var question = RequireString(item, "question", where, "query", "text");
            if (!item.TryGetProperty("scores", out var scores) || scores.ValueKind != JsonValueKind.Object)
            {
                throw new RoutingDataException($"{where}.scores", "missing or not an object {model: score}");
            }
            var list = new List<(int, float)>();
            foreach (var s in scores.EnumerateObject())
            {
                if (s.Value.ValueKind != JsonValueKind.Number || !s.Value.TryGetDouble(out var score) || !double.IsFinite(score))
                {
                    throw new RoutingDataException($"{where}.scores.{s.Name}", $"expected a number, got {s.Value.GetRawText()}");
                }
                if (!index.TryGetValue(s.Name, out var m))
                {
                    m = models.Count;
                    index[s.Name] = m;
                    models.Add(s.Name);
                }
                list.Add((m, (float)score));
            }
            rows.Add((question, list));
        }
        var samples = rows.Select(r =>
        {
            var v = new float[models.Count];
            Array.Fill(v, float.NaN);
            foreach (var (m, s) in r.Scores)
            {
                v[m] = s;
            }
            return new RoutingSample(r.Query, v);
        }).ToList();
        return Build(models, samples, catalogue, source);
    }

    private static RoutingDataset ReadSimpleForm(JsonElement queries, string source, IReadOnlyDictionary<string, double> catalogue)
    {
        if (queries.ValueKind != JsonValueKind.Array)
        {
            throw new RoutingDataException($"{source}.queries", "expected an array of {\"text\", \"best_model\"}");
        }
        var pairs = new List<(string Text, string Best)>();
        var i = 0;
        foreach (var q in queries.EnumerateArray())
        {
            var where = $"{source}.queries[{i++}]";
            if (q.ValueKind != JsonValueKind.Object)
            {
                throw new RoutingDataException(where, "expected an object {\"text\", \"best_model\"}");
            }
            pairs.Add((RequireString(q, "text", where, "query", "question"), RequireString(q, "best_model", where)));
        }
        // The simple form names only winners: the candidates are the catalogue's models plus every winner.
        var models = catalogue.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        foreach (var best in pairs.Select(p => p.Best).Distinct(StringComparer.Ordinal).Where(b => !catalogue.ContainsKey(b)))
        {
            models.Add(best);
        }
        var index = models.Select((m, k) => (m, k)).ToDictionary(x => x.m, x => x.k, StringComparer.Ordinal);
        var samples = pairs.Select(p =>
        {
            var v = new float[models.Count];
            v[index[p.Best]] = 1f;
            return new RoutingSample(p.Text, v);
        }).ToList();
        return Build(models, samples, catalogue, source);
    }

    /// <summary>
    /// Every line of a routing JSONL as one logged observation: <c>query</c>, <c>model_name</c>,
    /// <c>performance</c>, and the columns of logged data — <c>propensity</c> (in (0, 1]; absent = 1.0)
    /// and <c>label_source</c> (<c>formula</c> or <c>feedback:&lt;source&gt;</c>; absent = <c>formula</c>).
    /// </summary>
    public static List<LoggedObservation> ReadObservations(TextReader reader, string source)
    {
        var result = new List<LoggedObservation>();
        var lineNo = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var where = $"{source}:{lineNo}";
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(line);
            }
            catch (JsonException ex)
            {
                throw new RoutingDataException(where, $"not valid JSON ({ex.Message})");
            }
            using (doc)
            {
                var e = doc.RootElement;
                if (e.ValueKind != JsonValueKind.Object)
                {
                    throw new RoutingDataException(where, "expected an object {\"query\", \"model_name\", \"performance\"}");
                }
                var query = RequireString(e, "query", where);
                var model = RequireString(e, "model_name", where);
                if (!e.TryGetProperty("performance", out var perf) || perf.ValueKind != JsonValueKind.Number || !perf.TryGetDouble(out var score) || !double.IsFinite(score))
                {
                    throw new RoutingDataException($"{where}.performance", "missing or not a number");
                }
                var propensity = 1.0;
                if (e.TryGetProperty("propensity", out var prop) && prop.ValueKind != JsonValueKind.Null
                    && (prop.ValueKind != JsonValueKind.Number || !prop.TryGetDouble(out propensity) || !double.IsFinite(propensity) || propensity is <= 0 or > 1))
                {
                    throw new RoutingDataException($"{where}.propensity", $"expected a number in (0, 1], got {prop.GetRawText()}");
                }
                var labelSource = LoggedObservation.FormulaSource;
                if (e.TryGetProperty("label_source", out var ls) && ls.ValueKind != JsonValueKind.Null)
                {
                    labelSource = ls.ValueKind == JsonValueKind.String && ls.GetString() is { } text
                        && (text == LoggedObservation.FormulaSource || (text.StartsWith(LoggedObservation.FeedbackPrefix, StringComparison.Ordinal) && text.Length > LoggedObservation.FeedbackPrefix.Length))
                        ? text
                        : throw new RoutingDataException($"{where}.label_source", $"expected \"formula\" or \"feedback:<source>\", got {ls.GetRawText()}");
                }
                result.Add(new LoggedObservation(query, model, score, propensity, labelSource));
            }
        }
        return result;
    }

    /// <summary>LLMRouter routing JSONL: one (query, model) observation per line, grouped by query in first-seen order.</summary>
    public static RoutingDataset ReadRoutingJsonl(TextReader reader, string source, IReadOnlyDictionary<string, double> catalogue) =>
        FromObservations(ReadObservations(reader, source), source, catalogue);

    /// <summary>
    /// Groups observations into the queries × models matrix. Several observations of one (query,
    /// model) pair average out; their propensity is the harmonic mean (the mean inverse-propensity
    /// weight is kept). Propensities are recorded only when some observation has one below 1.
    /// </summary>
    public static RoutingDataset FromObservations(IReadOnlyList<LoggedObservation> observations, string source, IReadOnlyDictionary<string, double> catalogue)
    {
        var models = new List<string>();
        var modelIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var queries = new List<string>();
        var queryIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var indexed = new List<(int Query, int Model, LoggedObservation O)>(observations.Count);
        foreach (var o in observations)
        {
            if (!modelIndex.TryGetValue(o.Model, out var m))
            {
                m = models.Count;
                modelIndex[o.Model] = m;
                models.Add(o.Model);
            }
            if (!queryIndex.TryGetValue(o.Query, out var q))
            {
                q = queries.Count;
                queryIndex[o.Query] = q;
                queries.Add(o.Query);
            }
            indexed.Add((q, m, o));
        }
        var logged = observations.Any(o => o.Propensity < 1);
        var sums = new double[queries.Count, models.Count];
        var inverse = new double[queries.Count, models.Count];
        var counts = new int[queries.Count, models.Count];
        foreach (var (q, m, o) in indexed)
        {
            sums[q, m] += o.Score;
            inverse[q, m] += 1 / o.Propensity;
            counts[q, m]++;
        }
        var samples = new List<RoutingSample>(queries.Count);
        for (var q = 0; q < queries.Count; q++)
        {
            var scores = new float[models.Count];
            var propensities = logged ? new float[models.Count] : null;
            for (var m = 0; m < models.Count; m++)
            {
                var n = counts[q, m];
                scores[m] = n == 0 ? float.NaN : (float)(sums[q, m] / n);
                if (propensities is not null)
                {
                    propensities[m] = n == 0 ? float.NaN : (float)Math.Clamp(n / inverse[q, m], 1e-6, 1);
                }
            }
            samples.Add(new RoutingSample(queries[q], scores, propensities));
        }
        return Build(models, samples, catalogue, source);
    }

    private static RoutingDataset Build(List<string> models, List<RoutingSample> samples, IReadOnlyDictionary<string, double> catalogue, string source)
    {
        if (samples.Count == 0)
        {
            throw new RoutingDataException(source, "contains no queries");
        }
        var missing = models.Where(m => !catalogue.ContainsKey(m)).ToList();
        if (missing.Count > 0)
        {
            throw new RoutingDataException("LLM_DATA_PATH", $"the model catalogue has no entry (price) for {string.Join(", ", missing)}");
        }
        return new RoutingDataset(models, models.Select(m => catalogue[m]).ToList(), samples);
    }

    private static string RequireString(JsonElement e, string name, string where, params string[] aliases)
    {
        foreach (var key in aliases.Prepend(name))
        {
            if (e.TryGetProperty(key, out var v))
            {
                if (v.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(v.GetString()))
                {
                    throw new RoutingDataException($"{where}.{key}", "expected a non-empty string");
                }
                return v.GetString()!;
            }
        }
        throw new RoutingDataException($"{where}.{name}", "missing");
    }

    private static JsonDocument ParseJson(Stream json, string source)
    {
        try
        {
            return JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw new RoutingDataException(source, $"not valid JSON ({ex.Message.Split('.')[0]}, line {ex.LineNumber?.ToString(CultureInfo.InvariantCulture) ?? "?"})");
        }
    }
}

/// <summary>One logged (query, model, label) observation with the probability the logging policy had of choosing that model.</summary>
public sealed record LoggedObservation(string Query, string Model, double Score, double Propensity = 1, string LabelSource = LoggedObservation.FormulaSource)
{
    public const string FormulaSource = "formula";
    public const string FeedbackPrefix = "feedback:";

    public bool IsGraded => LabelSource.StartsWith(FeedbackPrefix, StringComparison.Ordinal);
}
