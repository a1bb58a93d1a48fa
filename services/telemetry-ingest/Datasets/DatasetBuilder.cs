using System.Buffers;
using System.Buffers.Binary;
using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
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
        // The shared identifier rules (also what ArtifactKeys.Dataset applies), lower case as dataset ids always were.
        if (Identifiers.Problem(id, "dataset_id", maxLength: 64) is not null || id.Any(char.IsAsciiLetterUpper))
        {
            throw new DatasetRequestException("dataset_id", "must be 1-64 of [a-z0-9._-], starting with a letter or digit, without '..'");
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
        if (request.Labels?.Feedback is { Mean: false } feedback)
        {
            var precedence = feedback.Precedence ?? [];
            if (precedence.Count == 0)
            {
                throw new DatasetRequestException("labels.feedback.precedence", $"must list at least one source of {string.Join(", ", FeedbackSources.DefaultPrecedence)}");
            }
            if (precedence.FirstOrDefault(p => !FeedbackSources.IsKnown(p)) is { } unknown)
            {
                throw new DatasetRequestException("labels.feedback.precedence", $"unknown source '{unknown}' (expected {string.Join(", ", FeedbackSources.DefaultPrecedence)})");
            }
            if (precedence.Distinct(StringComparer.Ordinal).Count() != precedence.Count)
            {
                throw new DatasetRequestException("labels.feedback.precedence", "lists a source twice");
            }
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
        var aggregation = labels.Feedback ?? FeedbackLabels.Default;

        await using var train = new FileStream(Path.Combine(temp, TrainFile), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        await using var test = new FileStream(Path.Combine(temp, TestFile), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
        var line = new ArrayBufferWriter<byte>(1024);
        await using var json = new Utf8JsonWriter(line);
        var hash = new byte[32];

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(cancellationToken);
        var grades = await GradeIndex.LoadAsync(db, connection, stats, cancellationToken);

        await using var command = connection.CreateCommand();
        var table = db.Database.IsNpgsql() ? $"\"{TelemetryDbContext.Schema}\".\"decisions\"" : "decisions";
        command.CommandText =
            $"SELECT {ReadColumns} FROM {table} WHERE timestamp_ms >= @since AND timestamp_ms < @until ORDER BY timestamp_ms, event_id";
        AddParameter(command, "@since", since);
        AddParameter(command, "@until", until);
        var byModel = new SortedDictionary<string, List<Grade>>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var eventId = reader.GetString((int)Read.EventId);
            var kind = reader.GetString((int)Read.Kind);
            var source = reader.GetString((int)Read.Source);
            var strategy = Nullable(reader, Read.StrategyName);
            var outcome = Nullable(reader, Read.OutcomeStatus);
            var model = Nullable(reader, Read.SelectedDeployment) ?? Nullable(reader, Read.RequestedModel);
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
            var traceId = Nullable(reader, Read.TraceId);
            var spanId = Nullable(reader, Read.SpanId);
            var queryText = Nullable(reader, Read.QueryText);
            var query = queryText ?? (traceId is not null && spanId is not null
                ? $"routing_decision:{traceId}:{spanId}"
                : $"routing_decision:{eventId}");

            // The grades of this decision, per graded model (null model_name = the selected one).
            byModel.Clear();
            if (grades.Join(eventId, traceId, spanId, stats) is { } joined)
            {
                foreach (var grade in joined)
                {
                    var graded = grade.Model ?? model;
                    if (!byModel.TryGetValue(graded, out var list))
                    {
                        byModel[graded] = list = [];
                    }
                    list.Add(grade);
                }
                stats.GradedDecisions++;
            }

            SHA256.HashData(Encoding.UTF8.GetBytes(query), hash);
            var key = BinaryPrimitives.ReadUInt128LittleEndian(hash);
            var isTest = SplitMix(BinaryPrimitives.ReadUInt64LittleEndian(hash.AsSpan(16)) ^ seedMix) < splitThreshold;
            var target = isTest ? test : train;

            var totalMs = NullableDouble(reader, Read.TotalMs);
            var inputTokens = NullableInt64(reader, Read.InputTokens);
            var outputTokens = NullableInt64(reader, Read.OutputTokens);
            var own = NullableDouble(reader, Read.Performance);
            var selectionProbability = NullableDouble(reader, Read.SelectionProbability);

            // The logged observation: the selected model, labelled by its grades, else by the formula.
            var written = false;
            var selectedLabel = byModel.TryGetValue(model, out var selectedGrades) ? Aggregate(selectedGrades, aggregation, stats) : null;
            if (selectedLabel is not null || !request.GradedOnly)
            {
                var (performance, labelSource) = selectedLabel is { } l
                    ? (l.Value, l.Source)
                    : (Label(own, outcome, model, totalMs, inputTokens, outputTokens, labels, catalog), FormulaLabel);
                if (selectionProbability is null)
                {
                    stats.PropensityUnknown++;
                }
                WriteLine(model, performance, labelSource, selectionProbability ?? 1.0, shadow: false);
                written = true;
            }
            else
            {
                stats.SkippedUngraded++;
            }
            // Shadow grades: another model's answer to the same query, its own observation (it was
            // evaluated on purpose, not chosen, so its propensity is 1).
            foreach (var (gradedModel, list) in byModel)
            {
                if (gradedModel == model || Aggregate(list, aggregation, stats) is not { } shadowLabel)
                {
                    continue;
                }
                stats.Shadow++;
                WriteLine(gradedModel, shadowLabel.Value, shadowLabel.Source, 1.0, shadow: true);
                written = true;
            }
            if (!written)
            {
                continue;
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
            if (stats.Total % 50_000 == 0)
            {
                progress?.Report(stats.Total);
            }

            void WriteLine(string lineModel, double performance, string labelSource, double propensity, bool shadow)
            {
                if (!embeddingIds.TryGetValue(key, out var embeddingId))
                {
                    embeddingId = embeddingIds.Count;
                    embeddingIds.Add(key, embeddingId);
                }
                line.ResetWrittenCount();
                json.Reset(line);
                json.WriteStartObject();
                json.WriteString("query", query);
                json.WriteString("model_name", lineModel);
                json.WriteNumber("performance", performance);
                json.WriteNumber("embedding_id", embeddingId);
                json.WriteNumber("propensity", propensity);
                json.WriteString("label_source", labelSource);
                if (request.IncludeRoutingMetadata)
                {
                    WriteNullable(json, "strategy_name", strategy);
                    WriteNullable(json, "strategy_version", Nullable(reader, Read.StrategyVersion));
                    WriteNullable(json, "outcome_status", shadow ? null : outcome);
                    json.WriteNumber("candidate_count", reader.GetInt32((int)Read.CandidateCount));
                    if (!shadow && totalMs is { } ms)
                    {
                        json.WriteNumber("response_time_ms", ms);
                    }
                    else
                    {
                        json.WriteNull("response_time_ms");
                    }
                    WriteNullable(json, "trace_id", traceId);
                    WriteNullable(json, "contract_version", Nullable(reader, Read.ContractVersion));
                    WriteNullable(json, "input_tokens", shadow ? null : inputTokens);
                    WriteNullable(json, "output_tokens", shadow ? null : outputTokens);
                }
                json.WriteEndObject();
                json.Flush();
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
                stats.LabelSources[labelSource] = stats.LabelSources.GetValueOrDefault(labelSource) + 1;
                stats.Models.Add(lineModel);
            }
        }
        stats.UniqueQueries = embeddingIds.Count;
        progress?.Report(stats.Total);
        return stats;
    }

    public const string FormulaLabel = "formula";

    /// <summary>
    /// The label of one (query, model) observation from its grades (in feedback_id order, so the sum
    /// is the same whatever order they arrived in), or null when none counts under the aggregation.
    /// </summary>
    internal static (double Value, string Source)? Aggregate(List<Grade> grades, FeedbackLabels aggregation, BuildStats? stats = null)
    {
        if (aggregation.Mean)
        {
            var sum = 0.0;
            var first = grades[0].Source;
            var mixed = false;
            foreach (var g in grades)
            {
                sum += g.Score;
                mixed |= g.Source != first;
            }
            stats?.CountUsed(grades);
            return (Math.Round(sum / grades.Count, 6), "feedback:" + (mixed ? "mean" : first));
        }
        foreach (var source in aggregation.Precedence ?? FeedbackSources.DefaultPrecedence)
        {
            double sum = 0;
            var count = 0;
            foreach (var g in grades)
            {
                if (g.Source == source)
                {
                    sum += g.Score;
                    count++;
                }
            }
            if (count > 0)
            {
                stats?.CountUsed(grades.Where(g => g.Source == source));
                return (Math.Round(sum / count, 6), "feedback:" + source);
            }
        }
        return null;
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
            w.WriteString("columns", "query, model_name, performance, embedding_id, propensity (in (0, 1]; 1.0 when unknown), label_source (feedback:<source> or formula)");
            w.WriteString("label_formula", Formula(labels));
            WriteFeedbackMetadata(w, request, labels, stats);
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

    /// <summary>What was joined how (feedback-contract.md): grades per source, joins, orphans, graded and ungraded observations, propensities.</summary>
    private static void WriteFeedbackMetadata(Utf8JsonWriter w, DatasetRequest request, LabelWeights labels, BuildStats stats)
    {
        static void Map(Utf8JsonWriter w, string name, SortedDictionary<string, long> map)
        {
            w.WriteStartObject(name);
            foreach (var (key, count) in map)
            {
                w.WriteNumber(key, count);
            }
            w.WriteEndObject();
        }

        var joined = stats.GradesJoinedByEventId + stats.GradesJoinedBySpan;
        w.WriteStartObject("feedback");
        w.WriteString("aggregation", (labels.Feedback ?? FeedbackLabels.Default).Describe());
        w.WriteString("join", "decision_event_id, else (trace_id, span_id); model_name null = the decision's selected model; a grade of another model is its own observation (shadow) with propensity 1");
        w.WriteBoolean("graded_only", request.GradedOnly);
        w.WriteNumber("grades_stored", stats.GradesStored);
        Map(w, "grades_stored_by_source", stats.GradesStoredBySource);
        w.WriteNumber("grades_joined", joined);
        w.WriteNumber("grades_joined_by_decision_event_id", stats.GradesJoinedByEventId);
        w.WriteNumber("grades_joined_by_trace_span", stats.GradesJoinedBySpan);
        w.WriteNumber("grades_used", stats.GradesUsed);
        Map(w, "grades_used_by_source", stats.GradesUsedBySource);
        w.WriteNumber("grades_not_joined", stats.GradesStored - joined);
        w.WriteString("grades_not_joined_means", "orphans (decision not stored yet) and grades of decisions outside this build's window or filters");
        w.WriteNumber("graded_decisions", stats.GradedDecisions);
        w.WriteNumber("graded_observations", stats.Total - stats.LabelSources.GetValueOrDefault(FormulaLabel));
        w.WriteNumber("ungraded_observations", stats.LabelSources.GetValueOrDefault(FormulaLabel));
        w.WriteNumber("shadow_observations", stats.Shadow);
        w.WriteNumber("skipped_ungraded", stats.SkippedUngraded);
        Map(w, "observations_by_label_source", stats.LabelSources);
        w.WriteEndObject();
        w.WriteStartObject("propensity");
        w.WriteString("from", "custom_attributes.selection_probability of the decision; 1.0 when unknown; shadow observations 1.0");
        w.WriteNumber("unknown", stats.PropensityUnknown);
        w.WriteEndObject();
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

    private static string? Nullable(DbDataReader reader, Read column) => Nullable(reader, (int)column);

    private static double? NullableDouble(DbDataReader reader, Read column) => reader.IsDBNull((int)column) ? null : reader.GetDouble((int)column);

    private static long? NullableInt64(DbDataReader reader, Read column) => reader.IsDBNull((int)column) ? null : reader.GetInt64((int)column);

    /// <summary>The decision columns the build reads, in the order it selects them: a member's value is its column's position.</summary>
    private enum Read
    {
        EventId, Kind, Source, ContractVersion, TraceId, SpanId, StrategyName, StrategyVersion, SelectedDeployment,
        RequestedModel, OutcomeStatus, CandidateCount, TotalMs, InputTokens, OutputTokens, Performance, QueryText, SelectionProbability,
    }

    /// <summary>The select list of <see cref="Read"/>, checked against the stored columns (<see cref="DecisionColumns"/>).</summary>
    private static readonly string ReadColumns = DecisionColumns.Decisions.SelectList<Read>();

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

    internal sealed class BuildStats
    {
        public long Total, Train, Test, Decisions, Legacy, WithText, Placeholder, UniqueQueries, SkippedNoModel;
        public long GradesStored, GradesJoinedByEventId, GradesJoinedBySpan, GradesUsed, GradedDecisions, Shadow, SkippedUngraded, PropensityUnknown;
        public SortedSet<string> Models { get; } = new(StringComparer.Ordinal);
        public SortedDictionary<string, long> LabelSources { get; } = new(StringComparer.Ordinal);
        public SortedDictionary<string, long> GradesStoredBySource { get; } = new(StringComparer.Ordinal);
        public SortedDictionary<string, long> GradesUsedBySource { get; } = new(StringComparer.Ordinal);

        public void CountUsed(IEnumerable<Grade> grades)
        {
            foreach (var g in grades)
            {
                GradesUsed++;
                GradesUsedBySource[g.Source] = GradesUsedBySource.GetValueOrDefault(g.Source) + 1;
            }
        }
    }

    /// <summary>One stored grade, as the build joins it.</summary>
    internal readonly record struct Grade(string FeedbackId, string? Model, double Score, string Source);

    /// <summary>
    /// Every stored grade, by the key it joins on (feedback-contract.md): <c>decision_event_id</c> when
    /// it has one, else (<c>trace_id</c>, <c>span_id</c>). All grades whatever their date: a grade may
    /// come days after its decision, or before it. Lists are in feedback_id order.
    /// </summary>
    internal sealed class GradeIndex
    {
        private sealed class Group(List<Grade> grades)
        {
            public List<Grade> Grades { get; } = grades;
            public bool Joined { get; set; }
        }

        /// <summary>The feedback columns the index reads, in the order it selects them: a member's value is its column's position.</summary>
        private enum GradeRead { FeedbackId, DecisionEventId, TraceId, SpanId, ModelName, Score, Source }

        private static readonly string GradeColumns = DecisionColumns.Feedback.SelectList<GradeRead>();

        private readonly Dictionary<string, Group> _byEventId = new(StringComparer.Ordinal);
        private readonly Dictionary<(string, string), Group> _bySpan = [];
        private readonly List<Grade> _merged = [];

        public static async Task<GradeIndex> LoadAsync(TelemetryDbContext db, DbConnection connection, BuildStats stats, CancellationToken cancellationToken)
        {
            var index = new GradeIndex();
            var names = new Dictionary<string, string>(StringComparer.Ordinal);
            string? Intern(string? value) => value is null ? null : names.TryGetValue(value, out var v) ? v : names[value] = value;
            await using var command = connection.CreateCommand();
            var table = db.Database.IsNpgsql() ? $"\"{TelemetryDbContext.Schema}\".\"feedback\"" : "feedback";
            command.CommandText = $"SELECT {GradeColumns} FROM {table} ORDER BY feedback_id";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var grade = new Grade(reader.GetString((int)GradeRead.FeedbackId), Intern(Nullable(reader, (int)GradeRead.ModelName)),
                    reader.GetDouble((int)GradeRead.Score), Intern(reader.GetString((int)GradeRead.Source))!);
                stats.GradesStored++;
                stats.GradesStoredBySource[grade.Source] = stats.GradesStoredBySource.GetValueOrDefault(grade.Source) + 1;
                if (Nullable(reader, (int)GradeRead.DecisionEventId) is { } eventId)
                {
                    Add(index._byEventId, eventId, grade);
                }
                else if (Nullable(reader, (int)GradeRead.TraceId) is { } traceId && Nullable(reader, (int)GradeRead.SpanId) is { } spanId)
                {
                    Add(index._bySpan, (traceId, spanId), grade);
                }
            }
            return index;
        }

        private static void Add<TKey>(Dictionary<TKey, Group> map, TKey key, Grade grade) where TKey : notnull
        {
            if (map.TryGetValue(key, out var group))
            {
                group.Grades.Add(grade);
            }
            else
            {
                map[key] = new Group([grade]);
            }
        }

        /// <summary>The grades of one decision (in feedback_id order), or null when it has none.</summary>
        public List<Grade>? Join(string eventId, string? traceId, string? spanId, BuildStats stats)
        {
            _byEventId.TryGetValue(eventId, out var byEvent);
            Group? bySpan = null;
            if (traceId is not null && spanId is not null)
            {
                _bySpan.TryGetValue((traceId, spanId), out bySpan);
            }
            foreach (var (group, isSpan) in new[] { (byEvent, false), (bySpan, true) })
            {
                if (group is { Joined: false })
                {
                    group.Joined = true;
                    if (isSpan)
                    {
                        stats.GradesJoinedBySpan += group.Grades.Count;
                    }
                    else
                    {
                        stats.GradesJoinedByEventId += group.Grades.Count;
                    }
                }
            }
            if (bySpan is null)
            {
                return byEvent?.Grades;
            }
            if (byEvent is null)
            {
                return bySpan.Grades;
            }
            _merged.Clear();
            _merged.AddRange(byEvent.Grades);
            _merged.AddRange(bySpan.Grades);
            _merged.Sort((a, b) => string.CompareOrdinal(a.FeedbackId, b.FeedbackId));
            return _merged;
        }
    }
}

/// <summary>A dataset with this id exists already.</summary>
public sealed class DatasetConflictException(string id) : Exception($"dataset '{id}' exists already")
{
    public string DatasetId { get; } = id;
}
