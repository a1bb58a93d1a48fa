using System.Text;
using System.Text.Json;
using RouteIQ.Routing;

namespace RouteIQ.Routing.Tests;

/// <summary>
/// Three topics, each with one model that answers it well: the right route for every query is
/// known. Words are drawn from a topic vocabulary plus shared filler, so routers must learn
/// which words matter.
/// </summary>
public static class SyntheticData
{
    public static readonly string[] Models = ["math-pro", "code-pro", "chat-lite"];
    public static readonly double[] Prices = [1.0, 0.8, 0.1];

    private static readonly string[][] Topics =
    [
        ["integral", "derivative", "equation", "solve", "matrix", "prime", "theorem", "polynomial", "algebra", "geometry"],
        ["python", "function", "compile", "bug", "class", "variable", "loop", "javascript", "recursion", "api"],
        ["hello", "weather", "movie", "recipe", "holiday", "friend", "music", "travel", "story", "joke"],
    ];

    private static readonly string[] Filler = ["please", "the", "a", "about", "what", "how", "can", "you", "me", "tell", "explain", "with", "my"];

    public static (string Query, int Topic) Query(SeededRandom rng)
    {
        var topic = rng.Next(Topics.Length);
        var sb = new StringBuilder();
        var words = 6 + rng.Next(6);
        for (var i = 0; i < words; i++)
        {
            var word = rng.NextDouble() < 0.45 ? Topics[topic][rng.Next(Topics[topic].Length)] : Filler[rng.Next(Filler.Length)];
            sb.Append(word).Append(' ');
        }
        return (sb.ToString().Trim() + "?", topic);
    }

    public static float[] Scores(int topic) => topic switch
    {
        0 => [1.0f, 0.2f, 0.1f],
        1 => [0.3f, 1.0f, 0.1f],
        _ => [0.6f, 0.5f, 0.9f],
    };

    public static RoutingDataset Dataset(int count, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var samples = Enumerable.Range(0, count).Select(_ =>
        {
            var (q, t) = Query(rng);
            return new RoutingSample(q, Scores(t));
        }).ToList();
        return new RoutingDataset(Models, Prices, samples);
    }

    public static List<(string Query, int Topic)> Queries(int count, ulong seed)
    {
        var rng = new SeededRandom(seed);
        return Enumerable.Range(0, count).Select(_ => Query(rng)).ToList();
    }

    /// <summary>The labelled-query JSON array (the shared data's format).</summary>
    public static string LabelledJson(RoutingDataset data) => JsonSerializer.Serialize(data.Samples.Select(s => new
    {
        question = s.Query,
        scores = data.Models.Select((m, j) => (m, j)).ToDictionary(x => x.m, x => s.Scores[x.j]),
    }));

    /// <summary>LLMRouter routing JSONL: one (query, model) observation per line.</summary>
    public static string RoutingJsonl(RoutingDataset data) => string.Join('\n', data.Samples.SelectMany((s, i) => data.Models.Select((m, j) =>
        JsonSerializer.Serialize(new { query = s.Query, model_name = m, performance = s.Scores[j], embedding_id = i }))));

    public static string Catalogue() => JsonSerializer.Serialize(Models.Select((m, j) => (m, j)).ToDictionary(
        x => x.m, x => new { name = x.m, provider = "unknown", input_price = Prices[x.j], output_price = Prices[x.j] }));

    /// <summary>Fast settings for the tiny data set.</summary>
    public static RouterSpec Spec(string type, ulong seed = 7) => new()
    {
        RouterType = type,
        Seed = seed,
        Tfidf = new TfidfOptions { Dimension = 256 },
        Knn = new KnnOptions { K = 10 },
        Mlp = new MlpOptions { HiddenDims = [32], Epochs = 60, LearningRate = 0.01, Patience = 10 },
        Mf = new MfOptions { LatentDim = 8, Epochs = 30, LearningRate = 0.1 },
    };
}
