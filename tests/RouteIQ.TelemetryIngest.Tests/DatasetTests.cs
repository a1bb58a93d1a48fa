using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest.Datasets;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.Testing;

namespace RouteIQ.TelemetryIngest.Tests;

[Trait("Category", "Integration")]
public sealed class DatasetBuiltProbe
{
    public ConcurrentQueue<DatasetBuilt> Received { get; } = new();
}

[Trait("Category", "Integration")]
public sealed class DatasetBuiltProbeConsumer(DatasetBuiltProbe probe) : IConsumer<DatasetBuilt>
{
    public Task Consume(ConsumeContext<DatasetBuilt> context)
    {
        probe.Received.Enqueue(context.Message);
        return Task.CompletedTask;
    }
}

[Trait("Category", "Integration")]
public sealed class DatasetBuiltProbeDefinition : ConsumerDefinition<DatasetBuiltProbeConsumer>
{
    public DatasetBuiltProbeDefinition() => EndpointName = "telemetry-tests.dataset-built";
}

[Trait("Category", "Integration")]
public sealed class DatasetFixture : IAsyncLifetime
{
    public static readonly DateTimeOffset Start = new(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);
    public const int Events = 3000;

    public TelemetryHost Host { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Host = await TelemetryHost.StartAsync("ti-dataset", new Dictionary<string, string?>
        {
            ["RouteIQ:Telemetry:StoreQueryText"] = "true",
        }, builder =>
        {
            builder.Services.AddSingleton<DatasetBuiltProbe>();
            builder.AddRouteIQConsumers(x => x.AddConsumer<DatasetBuiltProbeConsumer, DatasetBuiltProbeDefinition>());
        });
        var generator = new SyntheticTelemetry(seed: 51, start: Start);
        var lines = Enumerable.Range(0, Events).Select(i => Encoding.UTF8.GetString(generator.Event(i))).ToList();
        // A labelled legacy observation keeps its own performance.
        lines.Add($$"""{"query":"Label me","model_name":"gpt-4o","response_time":2.0,"trace_id":"4bf92f3577b34da6a3ce929d0e0e47bb","span_id":"00f067aa0ba902bb","timestamp":{{Start.AddSeconds(5).ToUnixTimeMilliseconds() * 1000}},"performance":0.42}""");
        var report = await Host.Services.GetRequiredService<JsonlImporter>()
            .ImportAsync(new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", lines))), IngestSources.File);
        Assert.Equal(Events + 1, report.Stored);
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

[Trait("Category", "Integration")]
public sealed class DatasetTests(DatasetFixture fixture) : IClassFixture<DatasetFixture>
{
    private TelemetryHost Host => fixture.Host;

    private static object Request(string id) => new
    {
        dataset_id = id,
        since = DatasetFixture.Start,
        until = DatasetFixture.Start.AddHours(1),
        test_split = 0.25,
        seed = 7,
        include_routing_metadata = true,
        labels = new { quality_weight = 0.6, latency_weight = 0.4, latency_scale_seconds = 5, cost_penalty = 0.0, default_quality = 0.5 },
        model_catalog = SyntheticTelemetry.Catalog.ToDictionary(kv => kv.Key, kv => new
        {
            input_price = kv.Value.InputPrice, output_price = kv.Value.OutputPrice, quality_score = kv.Value.QualityScore,
        }),
    };

    [Fact]
    public async Task TheSameWindowBuiltTwiceGivesIdenticalBytesAndPublishesDatasetBuilt()
    {
        var first = await BuildAsync("ds-same-a");
        var second = await BuildAsync("ds-same-b");

        var store = Host.Services.GetRequiredService<IArtifactStore>();
        foreach (var file in new[] { DatasetBuilder.TrainFile, DatasetBuilder.TestFile, DatasetBuilder.LlmDataFile })
        {
            Assert.Equal(await ReadAsync(store, $"datasets/ds-same-a/{file}"), await ReadAsync(store, $"datasets/ds-same-b/{file}"));
        }
        Assert.Equal(first.GetProperty("train_records").GetInt64(), second.GetProperty("train_records").GetInt64());
        Assert.Equal(DatasetFixture.Events + 1, first.GetProperty("total_records").GetInt64());
        Assert.Equal(store.GetUri("datasets/ds-same-a/"), first.GetProperty("uri").GetString());

        var probe = Host.Services.GetRequiredService<DatasetBuiltProbe>();
        await TestInfra.WaitUntilAsync(() => Task.FromResult(probe.Received.Count(b => b.DatasetId.StartsWith("ds-same-", StringComparison.Ordinal)) == 2),
            TimeSpan.FromSeconds(20), "two DatasetBuilt events");
        var built = probe.Received.Single(b => b.DatasetId == "ds-same-a");
        Assert.Equal(store.GetUri("datasets/ds-same-a/"), built.Uri);
        Assert.Equal(4, built.Files.Count);
        Assert.Equal(DatasetFixture.Events + 1, built.TrainRecords + built.TestRecords);

        var metadata = first.GetProperty("metadata");
        Assert.Equal(DatasetFixture.Events + 1, metadata.GetProperty("queries_with_text").GetInt64());
        Assert.Equal(1, metadata.GetProperty("legacy_records").GetInt64());
        Assert.Equal(7, metadata.GetProperty("seed").GetInt32());
        Assert.Equal(DatasetFixture.Events + 1, metadata.GetProperty("propensity").GetProperty("unknown").GetInt64());
        Assert.Equal(0, metadata.GetProperty("feedback").GetProperty("graded_observations").GetInt64());
        Assert.Contains("0.6*quality_score", metadata.GetProperty("label_formula").GetString());
        Assert.Equal(built.Files.Single(f => f.Path == DatasetBuilder.TrainFile).Sha256,
            metadata.GetProperty("sha256").GetProperty(DatasetBuilder.TrainFile).GetString());
    }

    [Fact]
    public async Task NoQueryIsInBothTrainAndTestAndLabelsFollowTheFormula()
    {
        await BuildAsync("ds-split");
        var store = Host.Services.GetRequiredService<IArtifactStore>();
        var train = Lines(await ReadAsync(store, "datasets/ds-split/routing_train.jsonl"));
        var test = Lines(await ReadAsync(store, "datasets/ds-split/routing_test.jsonl"));

        Assert.NotEmpty(test);
        Assert.Empty(train.Select(l => l.GetProperty("query").GetString()).Intersect(test.Select(l => l.GetProperty("query").GetString())));
        var share = (double)test.Count / (train.Count + test.Count);
        Assert.InRange(share, 0.1, 0.4);

        var failed = 0;
        foreach (var line in train.Concat(test))
        {
            // No grades stored here: every label is the formula's, every propensity unknown (1.0).
            Assert.Equal("formula", line.GetProperty("label_source").GetString());
            Assert.Equal(1.0, line.GetProperty("propensity").GetDouble());
            var performance = line.GetProperty("performance").GetDouble();
            var query = line.GetProperty("query").GetString();
            if (query == "Label me")
            {
                Assert.Equal(0.42, performance);
                continue;
            }
            var outcome = line.GetProperty("outcome_status").GetString();
            if (outcome != "success")
            {
                failed++;
                Assert.Equal(0, performance);
                continue;
            }
            var quality = SyntheticTelemetry.Catalog[line.GetProperty("model_name").GetString()!].QualityScore!.Value;
            var latencyS = line.GetProperty("response_time_ms").GetDouble() / 1000;
            var expected = Math.Round(Math.Clamp(0.6 * quality + 0.4 * Math.Max(0, 1 - latencyS / 5), 0, 1), 6);
            Assert.Equal(expected, performance, 6);
        }
        Assert.True(failed > 50, $"only {failed} failed outcomes in the sample");

        // embedding_id numbers unique queries in first-seen order, across both files.
        var ids = train.Concat(test).GroupBy(l => l.GetProperty("query").GetString())
            .Select(g => g.Select(l => l.GetProperty("embedding_id").GetInt32()).Distinct().Single()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(ids.Count - 1, ids.Max());
    }

    [Fact]
    public async Task LlmDataCarriesCataloguePricesAndInferredProviders()
    {
        await BuildAsync("ds-llm");
        var store = Host.Services.GetRequiredService<IArtifactStore>();
        using var llm = JsonDocument.Parse(await ReadAsync(store, "datasets/ds-llm/llm_data.json"));

        var gpt = llm.RootElement.GetProperty("gpt-4o");
        Assert.Equal("gpt-4o", gpt.GetProperty("name").GetString());
        Assert.Equal("openai", gpt.GetProperty("provider").GetString());
        Assert.Equal(2.5, gpt.GetProperty("input_price").GetDouble());
        Assert.Equal("anthropic", DatasetBuilder.InferProvider("us.anthropic.claude-3-haiku"));
        Assert.Equal("unknown", DatasetBuilder.InferProvider("qwen2.5-7b-instruct"));
    }

    [Fact]
    public async Task DatasetsAreListedAndBadRequestsNameTheField()
    {
        await BuildAsync("ds-list");

        var list = await Host.Client.GetFromJsonAsync<JsonElement>("admin/datasets");
        Assert.Contains(list.EnumerateArray(), d => d.GetProperty("dataset_id").GetString() == "ds-list");
        var one = await Host.Client.GetFromJsonAsync<JsonElement>("admin/datasets/ds-list");
        Assert.Equal(DatasetFixture.Events + 1, one.GetProperty("metadata").GetProperty("total_records").GetInt64());
        using var missing = await Host.Client.GetAsync("admin/datasets/nope");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);

        using var again = await Host.Client.PostAsJsonAsync("admin/datasets", Request("ds-list"));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        using var badSplit = await Host.Client.PostAsJsonAsync("admin/datasets", new { test_split = 1.5 });
        Assert.Equal(HttpStatusCode.BadRequest, badSplit.StatusCode);
        Assert.Contains("test_split", await badSplit.Content.ReadAsStringAsync());
        using var unknown = await Host.Client.PostAsJsonAsync("admin/datasets", new { test_spilt = 0.2 });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("test_spilt", await unknown.Content.ReadAsStringAsync());
    }

    private async Task<JsonElement> BuildAsync(string id)
    {
        using var response = await Host.Client.PostAsJsonAsync("admin/datasets", Request(id));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task<byte[]> ReadAsync(IArtifactStore store, string key)
    {
        await using var stream = await store.OpenReadAsync(key);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    private static List<JsonElement> Lines(byte[] jsonl)
        => Encoding.UTF8.GetString(jsonl).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
}
