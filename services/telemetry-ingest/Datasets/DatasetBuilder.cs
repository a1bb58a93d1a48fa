using System.Buffers;
using System.Buffers.Binary;
using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Datasets;

/// <summary>
/// Builds an LLMRouter dataset (<c>datasets/{id}/</c>: routing_train.jsonl, routing_test.jsonl,
/// llm_data.json, conversion_metadata.json) from stored decisions, as
/// specs/mlops-pipeline.md defines it. Decisions are streamed from the database in
/// (timestamp, event_id) order into two local temporary files, so memory stays flat apart
/// from a 16-byte hash per unique query (first-seen numbering); the same inputs give the
/// same bytes. Then publishes <see cref="DatasetBuilt"/>. Used by <c>POST /admin/datasets</c>
/// and <c>routeiq dataset build</c>.
/// </summary>
public sealed partial class DatasetBuilder(
    IDbContextFactory<TelemetryDbContext> contexts,
    IArtifactStore store,
    IPublishEndpoint publisher,
    IOptions<TelemetryIngestOptions> options,
    TimeProvider timeProvider,
    ILogger<DatasetBuilder> logger)
{
    public const string TrainFile = "routing_train.jsonl";
    public const string TestFile = "routing_test.jsonl";
    public const string LlmDataFile = "llm_data.json";
    public const string MetadataFile = "conversion_metadata.json";

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    private static partial Regex DatasetIdPattern();

    public async Task<DatasetInfo> BuildAsync(DatasetRequest request, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var now = timeProvider.GetUtcNow();
        var id = request.DatasetId ?? $"ds-{now:yyyyMMddHHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        Validate(request, id);
        var labels = request.Labels ?? new LabelWeights();
        var catalog = request.ModelCatalog ?? await LoadCatalogAsync(cancellationToken);
        var since = request.Since?.ToUnixTimeMilliseconds() ?? 0;
        var until = (request.Until ?? now).ToUnixTimeMilliseconds();

        await using (var check = await contexts.CreateDbContextAsync(cancellationToken))
        {
            if (await check.Datasets.AnyAsync(d => d.DatasetId == id, cancellationToken))
            {
                throw new DatasetConflictException(id);
            }
        }

        var temp = Path.Combine(Path.GetTempPath(), $"routeiq-dataset-{id}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            var stats = await WriteRecordsAsync(request, labels, catalog, since, until, temp, progress, cancellationToken);
            await File.WriteAllBytesAsync(Path.Combine(temp, LlmDataFile), BuildLlmData(stats.Models, catalog), cancellationToken);

            var prefix = ArtifactKeys.Dataset(id);
            var files = new List<ArtifactFile>();
            foreach (var name in new[] { TrainFile, TestFile, LlmDataFile })
            {
                files.Add(await PutAsync(prefix, name, Path.Combine(temp, name), cancellationToken));
            }
            var metadata = BuildMetadata(id, now, request, labels, since, until, stats, files);
            await File.WriteAllBytesAsync(Path.Combine(temp, MetadataFile), metadata, cancellationToken);
            files.Add(await PutAsync(prefix, MetadataFile, Path.Combine(temp, MetadataFile), cancellationToken));

            var uri = store.GetUri(prefix);
            await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
            {
                db.Datasets.Add(new DatasetRow
                {
                    DatasetId = id,
                    CreatedAtMs = now.ToUnixTimeMilliseconds(),
                    Uri = uri,
                    TotalRecords = stats.Total,
                    TrainRecords = stats.Train,
                    TestRecords = stats.Test,
                    UniqueQueries = stats.UniqueQueries,
                    MetadataJson = Encoding.UTF8.GetString(metadata),
                });
                await db.SaveChangesAsync(cancellationToken);
            }

            var built = new DatasetBuilt
            {
                DatasetId = id,
                Uri = uri,
                Files = files,
                TotalRecords = stats.Total,
                TrainRecords = stats.Train,
                TestRecords = stats.Test,
                UniqueQueries = stats.UniqueQueries,
                BuiltAt = now,
            };
            await publisher.Publish(built, cancellationToken);
            logger.LogInformation("Dataset {DatasetId} built: {Total} records ({Train} train, {Test} test), {Queries} unique queries at {Uri}",
                id, stats.Total, stats.Train, stats.Test, stats.UniqueQueries, uri);
            return new DatasetInfo
            {
                DatasetId = id,
                Uri = uri,
                CreatedAt = now,
                TotalRecords = stats.Total,
                TrainRecords = stats.Train,
                TestRecords = stats.Test,
                UniqueQueries = stats.UniqueQueries,
                Files = files,
                Metadata = JsonDocument.Parse(metadata).RootElement.Clone(),
            };
        }
        finally
        {
            try
            {
                Directory.Delete(temp, recursive: true);
            }
            catch (IOException)
            {
                // Temp files are best-effort cleanup.
            }
        }
    }

    private static void Validate(DatasetRequest request, string id)
    {
        if (!DatasetIdPattern().IsMatch(id))
        {
            throw new DatasetRequestException("dataset_id", "must match [a-z0-9][a-z0-9._-]{0,63}");
        }
        if (request.TestSplit is < 0 or >= 1 || double.IsNaN(request.TestSplit))
        {
            throw new DatasetRequestException("test_split", "must be in [0, 1)");
        }
        if (request.Since is { } s && request.Until is { } u && s >= u)
        {
            throw new DatasetRequestException("since", "must be before until");
        }
        if (request.Labels is { } l && (l.LatencyScaleSeconds <= 0 || l.QualityWeight < 0 || l.LatencyWeight < 0 || l.CostPenalty < 0
            || l.DefaultQuality is < 0 or > 1))
        {
            throw new DatasetRequestException("labels", "weights must be ≥ 0, latency_scale_seconds > 0, default_quality in [0, 1]");
        }
    }

    private async Task<IReadOnlyDictionary<string, ModelCatalogEntry>> LoadCatalogAsync(CancellationToken cancellationToken)
    {
        var path = options.Value.ModelCatalogPath;
        if (string.IsNullOrWhiteSpace(path))
        {
            return new Dictionary<string, ModelCatalogEntry>();
        }
        try
        {
            await using var stream = File.OpenRead(path);
            return await JsonSerializer.DeserializeAsync<Dictionary<string, ModelCatalogEntry>>(stream, TelemetryJson.Options, cancellationToken)
                ?? new Dictionary<string, ModelCatalogEntry>();
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            throw new DatasetRequestException("RouteIQ:Telemetry:ModelCatalogPath", $"cannot read the model catalogue '{path}' ({ex.Message.Split(" Path:")[0]})");
        }
    }

    private async Task<BuildStats> WriteRecordsAsync(DatasetRequest request, LabelWeights labels,
        IReadOnlyDictionary<string, ModelCatalogEntry> catalog, long since, long until, string temp,
        IProgress<long>? progress, CancellationToken cancellationToken)
    {
        var stats = new BuildStats();
        var filters = request.Filters;
        var embeddingIds = new Dictionary<UInt128, int>();
        var seedMix = SplitMix((ulong)(uint)request.Seed ^ 0x9E3779B97F4A7C15UL);
        var splitThreshold = request.TestSplit >= 1 ? ulong.MaxValue : (ulong)(request.TestSplit * 18446744073709551616.0);

        await using var train = new FileStream(Path.Combine(temp, TrainFile), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        await using var test = new FileStream(Path.Combine(temp, TestFile), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        var line = new ArrayBufferWriter<byte>(1024);
        await using var json = new Utf8JsonWriter(line);
        var hash = new byte[32];

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var table = db.Database.IsNpgsql() ? $"\"{TelemetryDbContext.Schema}\".\"decisions\"" : "decisions";
        command.CommandText =
            "SELECT event_id, kind, source, contract_version, trace_id, span_id, strategy_name, strategy_version, " +
            "selected_deployment, requested_model, outcome_status, candidate_count, total_ms, input_tokens, output_tokens, " +
            $"performance, query_text FROM {table} WHERE timestamp_ms >= @since AND timestamp_ms < @until ORDER BY timestamp_ms, event_id";
        AddParameter(command, "@since", since);
        AddParameter(command, "@until", until);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var kind = reader.GetString(1);
            var source = reader.GetString(2);
            var strategy = Nullable(reader, 6);
            var outcome = Nullable(reader, 10);
            var model = Nullable(reader, 8) ?? Nullable(reader, 9);
            if (model is null)
            {
                stats.SkippedNoModel++;
                continue;
            }
            if (filters is not null && (!Allowed(filters.Strategies, strategy) || !Allowed(filters.Models, model)
                || !Allowed(filters.Outcomes, outcome) || !Allowed(filters.Kinds, kind) || !Allowed(filters.Sources, source)))
            {
                continue;
            }
            var traceId = Nullable(reader, 4);
            var spanId = Nullable(reader, 5);
            var queryText = Nullable(reader, 16);
            var query = queryText ?? (traceId is not null && spanId is not null
                ? $"routing_decision:{traceId}:{spanId}"
                : $"routing_decision:{reader.GetString(0)}");

            SHA256.HashData(Encoding.UTF8.GetBytes(query), hash);
            var key = BinaryPrimitives.ReadUInt128LittleEndian(hash);
            if (!embeddingIds.TryGetValue(key, out var embeddingId))
            {
                embeddingId = embeddingIds.Count;
                embeddingIds.Add(key, embeddingId);
            }
            var isTest = SplitMix(BinaryPrimitives.ReadUInt64LittleEndian(hash.AsSpan(16)) ^ seedMix) < splitThreshold;

            var totalMs = reader.IsDBNull(12) ? (double?)null : reader.GetDouble(12);
            long? inputTokens = reader.IsDBNull(13) ? null : reader.GetInt64(13);
            long? outputTokens = reader.IsDBNull(14) ? null : reader.GetInt64(14);
            double? own = reader.IsDBNull(15) ? null : reader.GetDouble(15);
            var performance = Label(own, outcome, model, totalMs, inputTokens, outputTokens, labels, catalog);

            line.ResetWrittenCount();
            json.Reset(line);
            json.WriteStartObject();
            json.WriteString("query", query);
            json.WriteString("model_name", model);
            json.WriteNumber("performance", performance);
            json.WriteNumber("embedding_id", embeddingId);
            if (request.IncludeRoutingMetadata)
            {
                WriteNullable(json, "strategy_name", strategy);
                WriteNullable(json, "strategy_version", Nullable(reader, 7));
                WriteNullable(json, "outcome_status", outcome);
                json.WriteNumber("candidate_count", reader.GetInt32(11));
                if (totalMs is { } ms)
                {
                    json.WriteNumber("response_time_ms", ms);
                }
                else
                {
                    json.WriteNull("response_time_ms");
                }
                WriteNullable(json, "trace_id", traceId);
                WriteNullable(json, "contract_version", Nullable(reader, 3));
                WriteNullable(json, "input_tokens", inputTokens);
                WriteNullable(json, "output_tokens", outputTokens);
            }
            json.WriteEndObject();
            json.Flush();
            var target = isTest ? test : train;
            target.Write(line.WrittenSpan);
            target.WriteByte((byte)'\n');

            stats.Total++;
            if (isTest)
            {
                stats.Test++;
            }
            else
            {
                stats.Train++;
            }
            if (kind == DecisionKinds.Legacy)
            {
                stats.Legacy++;
            }
            else
            {
                stats.Decisions++;
            }
            if (queryText is null)
            {
                stats.Placeholder++;
            }
            else
            {
                stats.WithText++;
            }
            stats.Models.Add(model);
            if (stats.Total % 50_000 == 0)
            {
                progress?.Report(stats.Total);
            }
        }
        stats.UniqueQueries = embeddingIds.Count;
        progress?.Report(stats.Total);
        return stats;
    }

    /// <summary>The label of one observation (see <see cref="LabelWeights"/>).</summary>
    public static double Label(double? own, string? outcome, string model, double? totalMs, long? inputTokens, long? outputTokens,
        LabelWeights labels, IReadOnlyDictionary<string, ModelCatalogEntry> catalog)
    {
        if (own is { } given)
        {
            return given;
        }
        if (outcome is not null && outcome != "success")
        {
            return 0;
        }
        catalog.TryGetValue(model, out var entry);
        var quality = entry?.QualityScore ?? labels.DefaultQuality;
        var latencyS = (totalMs ?? 0) / 1000.0;
        var cost = ((inputTokens ?? 0) * (entry?.InputPrice ?? 0) + (outputTokens ?? 0) * (entry?.OutputPrice ?? 0)) / 1_000_000.0;
        var value = labels.QualityWeight * quality
            + labels.LatencyWeight * Math.Max(0, 1 - latencyS / labels.LatencyScaleSeconds)
            - labels.CostPenalty * cost;
        return Math.Round(Math.Clamp(value, 0, 1), 6);
    }

    public static string Formula(LabelWeights l) => string.Create(CultureInfo.InvariantCulture,
        $"performance = {l.QualityWeight}*quality_score + {l.LatencyWeight}*max(0, 1 - latency_s/{l.LatencyScaleSeconds}) - {l.CostPenalty}*cost_usd, clamped to [0,1]; quality_score from the catalogue, default {l.DefaultQuality}; an outcome other than success scores 0; an observation's own performance is kept");

    /// <summary>Provider by substring, first match wins (as the Python converter did).</summary>
    public static string InferProvider(string model)
    {
        var m = model.ToLowerInvariant();
        (string[] Needles, string Provider)[] rules =
        [
            (["claude", "anthropic"], "anthropic"), (["gpt", "openai"], "openai"), (["bedrock"], "bedrock"),
            (["gemini", "palm"], "google"), (["mistral"], "mistral"), (["llama", "meta"], "meta"), (["cohere"], "cohere"),
        ];
        foreach (var (needles, provider) in rules)
        {
            if (needles.Any(n => m.Contains(n, StringComparison.Ordinal)))
            {
                return provider;
            }
        }
        return "unknown";
    }

    private static byte[] BuildLlmData(SortedSet<string> models, IReadOnlyDictionary<string, ModelCatalogEntry> catalog)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            foreach (var model in models)
            {
                catalog.TryGetValue(model, out var entry);
                writer.WriteStartObject(model);
                writer.WriteString("name", model);
                writer.WriteString("provider", entry?.Provider ?? InferProvider(model));
                writer.WriteNumber("input_price", entry?.InputPrice ?? 0);
                writer.WriteNumber("output_price", entry?.OutputPrice ?? 0);
                if (entry?.QualityScore is { } q)
                {
                    writer.WriteNumber("quality_score", q);
                }
                WriteIf(writer, "size", entry?.Size);
                WriteIf(writer, "feature", entry?.Feature);
                WriteIf(writer, "model", entry?.Model);
                WriteIf(writer, "service", entry?.Service);
                writer.WriteBoolean("in_catalog", entry is not null);
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        return stream.ToArray();
    }

    private static byte[] BuildMetadata(string id, DateTimeOffset now, DatasetRequest request, LabelWeights labels, long since, long until,
        BuildStats stats, IReadOnlyList<ArtifactFile> files)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("contract_version", DecisionParser.ContractName);
            w.WriteNumber("total_records", stats.Total);
            w.WriteNumber("routing_decision_records", stats.Decisions);
            w.WriteNumber("legacy_records", stats.Legacy);
            w.WriteNumber("unique_queries", stats.UniqueQueries);
            w.WriteNumber("queries_with_text", stats.WithText);
            w.WriteNumber("placeholder_queries", stats.Placeholder);
            w.WriteNumber("unique_models", stats.Models.Count);
            w.WriteNumber("train_records", stats.Train);
            w.WriteNumber("test_records", stats.Test);
            w.WriteNumber("skipped_without_model", stats.SkippedNoModel);
            w.WriteString("dataset_id", id);
            w.WriteString("created_at", now.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            w.WriteStartObject("source_window");
            w.WriteString("since", DateTimeOffset.FromUnixTimeMilliseconds(since).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            w.WriteString("until", DateTimeOffset.FromUnixTimeMilliseconds(until).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            w.WriteEndObject();
            w.WritePropertyName("filters");
            JsonSerializer.Serialize(w, request.Filters, TelemetryJson.Options);
            w.WriteNumber("test_split", request.TestSplit);
            w.WriteNumber("seed", request.Seed);
            w.WriteString("split", "sha256(query) mixed with the seed; a query's records all go to one side");
            w.WriteBoolean("include_routing_metadata", request.IncludeRoutingMetadata);
            w.WriteString("label_formula", Formula(labels));
            w.WritePropertyName("label_weights");
            JsonSerializer.Serialize(w, labels, TelemetryJson.Options);
            w.WriteStartObject("sha256");
            foreach (var file in files)
            {
                w.WriteString(Path.GetFileName(file.Path), file.Sha256);
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }

    private async Task<ArtifactFile> PutAsync(string prefix, string name, string path, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var stored = await store.PutAsync(prefix + name, stream, cancellationToken);
        return stored with { Path = name };
    }

    private static bool Allowed(IReadOnlyList<string>? allowed, string? value)
        => allowed is null || allowed.Count == 0 || (value is not null && allowed.Contains(value));

    private static string? Nullable(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static void WriteNullable(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }

    private static void WriteNullable(Utf8JsonWriter writer, string name, long? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }

    private static void WriteIf(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }

    private static void AddParameter(DbCommand command, string name, long value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        command.Parameters.Add(p);
    }

    private static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    private sealed class BuildStats
    {
        public long Total, Train, Test, Decisions, Legacy, WithText, Placeholder, UniqueQueries, SkippedNoModel;
        public SortedSet<string> Models { get; } = new(StringComparer.Ordinal);
    }
}

/// <summary>A dataset with this id exists already.</summary>
public sealed class DatasetConflictException(string id) : Exception($"dataset '{id}' exists already")
{
    public string DatasetId { get; } = id;
}
