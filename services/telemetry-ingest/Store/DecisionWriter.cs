using System.Diagnostics.Metrics;
using Microsoft.Data.Sqlite;
using Npgsql;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest.Parsing;

namespace RouteIQ.TelemetryIngest.Store;

/// <summary>
/// What one batch did: new decisions stored, duplicates dropped, rejections stored; grades stored
/// and duplicate grades dropped, and (<see cref="Grades"/>) the stored grades themselves, null when none.
/// </summary>
public readonly record struct WriteResult(int Inserted, int Duplicates, int Rejected, int FeedbackInserted = 0, int FeedbackDuplicates = 0,
    IReadOnlyList<StoredGrade>? Grades = null)
{
    public static WriteResult operator +(WriteResult a, WriteResult b)
        => new(a.Inserted + b.Inserted, a.Duplicates + b.Duplicates, a.Rejected + b.Rejected,
            a.FeedbackInserted + b.FeedbackInserted, a.FeedbackDuplicates + b.FeedbackDuplicates,
            a.Grades is null ? b.Grades : b.Grades is null ? a.Grades : [.. a.Grades, .. b.Grades]);
}

/// <summary>
/// A grade the batch stored (not a duplicate of one already stored), with the decision it names by
/// <c>decision_event_id</c> as found in the same transaction: <see cref="DecisionTimestampMs"/> and
/// <see cref="SelectedModel"/> are null when that decision is not stored (yet), or the grade joins by trace and span only.
/// </summary>
public readonly record struct StoredGrade(long GradeTimestampMs, double Score, string? GradedModel, long? DecisionTimestampMs, string? SelectedModel)
{
    /// <summary>A joined grade of the model the decision chose (not a shadow grade of another one): it measures the router's own choices.</summary>
    public bool GradesTheChoice => DecisionTimestampMs is not null && (GradedModel is null || GradedModel == SelectedModel);
}

/// <summary>
/// Writes batches of decisions and rejected events in one transaction, deduplicated by
/// <c>event_id</c>. When the returned task completes the batch is committed: inputs
/// acknowledge their messages only then.
/// </summary>
public interface IDecisionWriter
{
    Task<WriteResult> WriteAsync(IReadOnlyList<RouterDecision> decisions, IReadOnlyList<RejectedEvent> rejected, CancellationToken cancellationToken);

    /// <summary>Decisions, grades (deduplicated by <c>feedback_id</c>) and rejections in one transaction.</summary>
    Task<WriteResult> WriteAsync(IReadOnlyList<RouterDecision> decisions, IReadOnlyList<RejectedEvent> rejected,
        IReadOnlyList<RouterFeedback> feedback, CancellationToken cancellationToken);
}

/// <summary>Counters every writer shares (exported through the RouteIQ meter).</summary>
public sealed class IngestMetrics : IDisposable
{
    // The shared "RouteIQ" meter name, so the service defaults export these counters.
    private readonly Meter _meter = new(ServiceDefaults.Extensions.TelemetrySourceName);
    private readonly Counter<long> _stored;
    private readonly Counter<long> _duplicates;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _feedbackStored;
    private readonly Counter<long> _feedbackDuplicates;
    private long _duplicateTotal;
    private long _storedTotal;
    private long _feedbackDuplicateTotal;

    public IngestMetrics()
    {
        _stored = _meter.CreateCounter<long>("routeiq.telemetry.decisions.stored");
        _duplicates = _meter.CreateCounter<long>("routeiq.telemetry.decisions.duplicates");
        _rejected = _meter.CreateCounter<long>("routeiq.telemetry.events.rejected");
        _feedbackStored = _meter.CreateCounter<long>("routeiq.telemetry.feedback.stored");
        _feedbackDuplicates = _meter.CreateCounter<long>("routeiq.telemetry.feedback.duplicates");
    }

    /// <summary>Duplicate grades (same feedback_id) dropped since this process started.</summary>
    public long FeedbackDuplicatesSinceStart => Interlocked.Read(ref _feedbackDuplicateTotal);

    /// <summary>Duplicates dropped since this process started (they are not stored anywhere).</summary>
    public long DuplicatesSinceStart => Interlocked.Read(ref _duplicateTotal);

    /// <summary>Decisions committed since this process started.</summary>
    public long StoredSinceStart => Interlocked.Read(ref _storedTotal);

    public void Record(WriteResult result, string source)
    {
        var tag = new KeyValuePair<string, object?>("source", source);
        _stored.Add(result.Inserted, tag);
        _duplicates.Add(result.Duplicates, tag);
        _rejected.Add(result.Rejected, tag);
        Interlocked.Add(ref _duplicateTotal, result.Duplicates);
        Interlocked.Add(ref _storedTotal, result.Inserted);
        if (result.FeedbackInserted + result.FeedbackDuplicates > 0)
        {
            _feedbackStored.Add(result.FeedbackInserted, tag);
            _feedbackDuplicates.Add(result.FeedbackDuplicates, tag);
            Interlocked.Add(ref _feedbackDuplicateTotal, result.FeedbackDuplicates);
        }
    }

    public void Dispose() => _meter.Dispose();
}

public static class DecisionColumns
{
    public static readonly string[] Names =
    [
        "event_id", "timestamp_ms", "ingested_at_ms", "source", "kind", "contract_version", "trace_id", "span_id",
        "parent_span_id", "requested_model", "query_length", "user_id", "team_id", "api_type", "strategy_name",
        "strategy_version", "selected_deployment", "selection_reason", "candidate_count", "experiment_id",
        "experiment_variant", "total_ms", "strategy_ms", "embedding_ms", "candidate_filter_ms", "outcome_status",
        "error_type", "error_message", "input_tokens", "output_tokens", "total_tokens", "fallback_triggered",
        "fallback_reason", "original_model", "fallback_attempt", "performance", "query_text", "attributes_json",
        "selection_probability",
    ];

    public static readonly string List = string.Join(", ", Names);

    /// <summary>The values in <see cref="Names"/> order.</summary>
    public static object?[] Values(RouterDecision d, long ingestedAtMs) =>
    [
        d.EventId, d.TimestampMs, ingestedAtMs, d.Source, d.Kind, d.ContractVersion, d.TraceId, d.SpanId,
        d.ParentSpanId, d.RequestedModel, d.QueryLength, d.UserId, d.TeamId, d.ApiType, d.StrategyName,
        d.StrategyVersion, d.SelectedDeployment, d.SelectionReason, d.CandidateCount, d.ExperimentId,
        d.ExperimentVariant, d.TotalMs, d.StrategyMs, d.EmbeddingMs, d.CandidateFilterMs, d.OutcomeStatus,
        d.ErrorType, d.ErrorMessage, d.InputTokens, d.OutputTokens, d.TotalTokens, d.FallbackTriggered,
        d.FallbackReason, d.OriginalModel, d.FallbackAttempt, d.Performance, d.QueryText, d.AttributesJson,
        d.SelectionProbability,
    ];

    public static readonly string[] FeedbackNames =
    [
        "feedback_id", "decision_event_id", "trace_id", "span_id", "model_name", "score", "source", "judge_model", "rubric",
        "timestamp_ms", "ingested_at_ms", "ingest_source", "contract_version", "attributes_json",
    ];

    public static readonly string FeedbackList = string.Join(", ", FeedbackNames);

    /// <summary>The values in <see cref="FeedbackNames"/> order.</summary>
    public static object?[] FeedbackValues(RouterFeedback f, long ingestedAtMs) =>
    [
        f.FeedbackId, f.DecisionEventId, f.TraceId, f.SpanId, f.ModelName, f.Score, f.Source, f.JudgeModel, f.Rubric,
        f.TimestampMs, ingestedAtMs, f.IngestSource, f.ContractVersion, f.AttributesJson,
    ];

    /// <summary>The grades of a batch without repeated feedback ids (the first one stays); the rest are duplicates.</summary>
    public static List<RouterFeedback> DistinctFeedback(IReadOnlyList<RouterFeedback> feedback)
    {
        var ids = new HashSet<string>(feedback.Count, StringComparer.Ordinal);
        var distinct = new List<RouterFeedback>(feedback.Count);
        foreach (var f in feedback)
        {
            if (ids.Add(f.FeedbackId))
            {
                distinct.Add(f);
            }
        }
        return distinct;
    }

    public static readonly string[] RejectedNames = ["received_at_ms", "source", "reason", "raw_body", "event_id"];

    /// <summary>Raw bodies are kept whole up to this size; a larger one (only possible for over-limit bodies) is cut.</summary>
    public const int MaxStoredRawBody = 64 * 1024;

    public static string StoredBody(string raw) => raw.Length <= MaxStoredRawBody ? raw : raw[..MaxStoredRawBody] + "…[truncated]";
}

/// <summary>
/// PostgreSQL, by binary COPY, in one transaction per batch, deduplicated by <c>event_id</c>:
/// <list type="bullet">
/// <item>A batch whose event ids are distinct is first COPYed straight into <c>decisions</c>:
/// PostgreSQL's multi-row insert path (one heap extension and WAL record per page instead of
/// per row), about a third less of its CPU per row. The primary key still guards it: if an id
/// is already stored the whole transaction rolls back and the batch is written the other way.</item>
/// <item>Otherwise, and for the batches after one that met a stored id (a redelivery or a
/// replay usually brings more), COPY into a session staging table (created once per physical
/// connection, emptied at every commit), then one
/// <c>INSERT … SELECT … ON CONFLICT (event_id) DO NOTHING</c>.</item>
/// </list>
/// Rejected events go by binary COPY in the same transaction.
/// </summary>
public sealed class PostgresDecisionWriter(NpgsqlDataSource dataSource, string schema, TimeProvider timeProvider, bool directCopy = true) : IDecisionWriter
{
    /// <summary>Batches written through staging after one met a stored event id (and after every staged batch that still found duplicates).</summary>
    public const int StagedBatchesAfterConflict = 8;

    private readonly string _copyDirect = $"COPY \"{schema}\".\"decisions\" ({DecisionColumns.List}) FROM STDIN (FORMAT BINARY)";
    private readonly string _createStaging =
        $"CREATE TEMP TABLE IF NOT EXISTS decisions_staging (LIKE \"{schema}\".\"decisions\" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";
    private readonly string _copyStaging = $"COPY decisions_staging ({DecisionColumns.List}) FROM STDIN (FORMAT BINARY)";
    private readonly string _merge =
        $"INSERT INTO \"{schema}\".\"decisions\" ({DecisionColumns.List}) SELECT {DecisionColumns.List} FROM decisions_staging ON CONFLICT (event_id) DO NOTHING";
    private readonly string _copyRejected =
        $"COPY \"{schema}\".\"rejected_events\" ({string.Join(", ", DecisionColumns.RejectedNames)}) FROM STDIN (FORMAT BINARY)";

    private readonly string _createFeedbackStaging =
        $"CREATE TEMP TABLE IF NOT EXISTS feedback_staging (LIKE \"{schema}\".\"feedback\" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";
    private readonly string _copyFeedbackStaging = $"COPY feedback_staging ({DecisionColumns.FeedbackList}) FROM STDIN (FORMAT BINARY)";
    // The inserted grades only (a redelivered feedback_id returns nothing), each with its decision if stored.
    private readonly string _mergeFeedback =
        $"WITH ins AS (INSERT INTO \"{schema}\".\"feedback\" ({DecisionColumns.FeedbackList}) SELECT {DecisionColumns.FeedbackList} FROM feedback_staging"
        + " ON CONFLICT (feedback_id) DO NOTHING RETURNING timestamp_ms, score, model_name, decision_event_id)"
        + $" SELECT ins.timestamp_ms, ins.score, ins.model_name, d.timestamp_ms, d.selected_deployment FROM ins LEFT JOIN \"{schema}\".\"decisions\" d ON d.event_id = ins.decision_event_id";

    private int _stagedBatchesLeft;
    private long _directBatches;
    private long _stagedBatches;

    /// <summary>Batches COPYed straight into <c>decisions</c> since start.</summary>
    public long DirectBatches => Interlocked.Read(ref _directBatches);

    /// <summary>Batches written through the staging table since start (duplicates in the batch, a stored id met, or direct COPY off).</summary>
    public long StagedBatches => Interlocked.Read(ref _stagedBatches);

    public Task<WriteResult> WriteAsync(IReadOnlyList<RouterDecision> decisions, IReadOnlyList<RejectedEvent> rejected, CancellationToken cancellationToken)
        => WriteAsync(decisions, rejected, [], cancellationToken);

    public async Task<WriteResult> WriteAsync(IReadOnlyList<RouterDecision> decisions, IReadOnlyList<RejectedEvent> rejected,
        IReadOnlyList<RouterFeedback> feedback, CancellationToken cancellationToken)
    {
        if (decisions.Count == 0 && rejected.Count == 0 && feedback.Count == 0)
        {
            return default;
        }
        var now = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (decisions.Count > 0 && directCopy && Volatile.Read(ref _stagedBatchesLeft) <= 0 && AllDistinct(decisions))
        {
            try
            {
                var direct = await WriteOnceAsync(connection, decisions, rejected, feedback, now, staged: false, cancellationToken);
                Interlocked.Increment(ref _directBatches);
                return direct;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation && ex.TableName == "decisions")
            {
                // The transaction rolled back as it was disposed: nothing of this batch is stored.
                Volatile.Write(ref _stagedBatchesLeft, StagedBatchesAfterConflict);
            }
        }
        var staged = await WriteOnceAsync(connection, decisions, rejected, feedback, now, staged: true, cancellationToken);
        if (decisions.Count == 0)
        {
            return staged;
        }
        Interlocked.Increment(ref _stagedBatches);
        if (staged.Duplicates > 0)
        {
            Volatile.Write(ref _stagedBatchesLeft, StagedBatchesAfterConflict);
        }
        else if (Volatile.Read(ref _stagedBatchesLeft) > 0)
        {
            Interlocked.Decrement(ref _stagedBatchesLeft);
        }
        return staged;
    }

    private static bool AllDistinct(IReadOnlyList<RouterDecision> decisions)
    {
        var ids = new HashSet<string>(decisions.Count, StringComparer.Ordinal);
        foreach (var d in decisions)
        {
            if (!ids.Add(d.EventId))
            {
                return false;
            }
        }
        return true;
    }

    private async Task<WriteResult> WriteOnceAsync(NpgsqlConnection connection, IReadOnlyList<RouterDecision> decisions,
        IReadOnlyList<RejectedEvent> rejected, IReadOnlyList<RouterFeedback> feedback, long now, bool staged, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var inserted = decisions.Count;
        if (decisions.Count > 0)
        {
            if (staged)
            {
                await using var create = new NpgsqlCommand(_createStaging, connection, transaction);
                await create.ExecuteNonQueryAsync(cancellationToken);
            }
            await CopyAsync(connection, staged ? _copyStaging : _copyDirect, decisions, (rows, decision) => WriteRow(rows, decision, now), cancellationToken);
            if (staged)
            {
                await using var merge = new NpgsqlCommand(_merge, connection, transaction);
                inserted = await merge.ExecuteNonQueryAsync(cancellationToken);
            }
        }
        if (rejected.Count > 0)
        {
            await CopyAsync(connection, _copyRejected, rejected, (rows, r) =>
            {
                rows.StartRow((short)DecisionColumns.RejectedNames.Length);
                rows.WriteInt64(now);
                rows.WriteText(r.Source);
                rows.WriteText(r.Reason);
                rows.WriteText(DecisionColumns.StoredBody(r.RawBody));
                rows.WriteText(r.EventId);
            }, cancellationToken);
        }
        List<StoredGrade>? grades = null;
        if (feedback.Count > 0)
        {
            // Grades are few next to decisions: always through staging + ON CONFLICT (redelivery is normal).
            var distinct = DecisionColumns.DistinctFeedback(feedback);
            await using (var create = new NpgsqlCommand(_createFeedbackStaging, connection, transaction))
            {
                await create.ExecuteNonQueryAsync(cancellationToken);
            }
            await CopyAsync(connection, _copyFeedbackStaging, distinct, (rows, f) => WriteFeedbackRow(rows, f, now), cancellationToken);
            await using var merge = new NpgsqlCommand(_mergeFeedback, connection, transaction);
            await using var reader = await merge.ExecuteReaderAsync(cancellationToken);
            grades = new List<StoredGrade>(distinct.Count);
            while (await reader.ReadAsync(cancellationToken))
            {
                grades.Add(new StoredGrade(reader.GetInt64(0), reader.GetDouble(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetInt64(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
            }
        }
        await transaction.CommitAsync(cancellationToken);
        var feedbackInserted = grades?.Count ?? 0;
        return new WriteResult(inserted, decisions.Count - inserted, rejected.Count, feedbackInserted, feedback.Count - feedbackInserted,
            grades is { Count: > 0 } ? grades : null);
    }

    private static void WriteFeedbackRow(PgBinaryCopyBuffer w, RouterFeedback f, long ingestedAtMs)
    {
        w.StartRow((short)DecisionColumns.FeedbackNames.Length);
        w.WriteText(f.FeedbackId);
        w.WriteText(f.DecisionEventId);
        w.WriteText(f.TraceId);
        w.WriteText(f.SpanId);
        w.WriteText(f.ModelName);
        w.WriteDouble(f.Score);
        w.WriteText(f.Source);
        w.WriteText(f.JudgeModel);
        w.WriteText(f.Rubric);
        w.WriteInt64(f.TimestampMs);
        w.WriteInt64(ingestedAtMs);
        w.WriteText(f.IngestSource);
        w.WriteText(f.ContractVersion);
        w.WriteText(f.AttributesJson);
    }

    /// <summary>
    /// Binary COPY with our own encoding (see <see cref="PgBinaryCopyBuffer"/>) straight into
    /// Npgsql's raw COPY stream, flushed every ~60 KiB.
    /// </summary>
    private static async Task CopyAsync<T>(NpgsqlConnection connection, string copySql, IReadOnlyList<T> items,
        Action<PgBinaryCopyBuffer, T> writeRow, CancellationToken cancellationToken)
    {
        await using var copy = await connection.BeginRawBinaryCopyAsync(copySql, cancellationToken);
        using var rows = new PgBinaryCopyBuffer();
        rows.WriteHeader();
        foreach (var item in items)
        {
            writeRow(rows, item);
            if (rows.Length >= 60 * 1024)
            {
                await rows.FlushToAsync(copy, cancellationToken);
            }
        }
        rows.WriteTrailer();
        await rows.FlushToAsync(copy, cancellationToken);
    }

    /// <summary>One row in <see cref="DecisionColumns.Names"/> order, typed as the table's columns.</summary>
    private static void WriteRow(PgBinaryCopyBuffer w, RouterDecision d, long ingestedAtMs)
    {
        w.StartRow((short)DecisionColumns.Names.Length);
        w.WriteText(d.EventId);
        w.WriteInt64(d.TimestampMs);
        w.WriteInt64(ingestedAtMs);
        w.WriteText(d.Source);
        w.WriteText(d.Kind);
        w.WriteText(d.ContractVersion);
        w.WriteText(d.TraceId);
        w.WriteText(d.SpanId);
        w.WriteText(d.ParentSpanId);
        w.WriteText(d.RequestedModel);
        w.WriteInt32(d.QueryLength);
        w.WriteText(d.UserId);
        w.WriteText(d.TeamId);
        w.WriteText(d.ApiType);
        w.WriteText(d.StrategyName);
        w.WriteText(d.StrategyVersion);
        w.WriteText(d.SelectedDeployment);
        w.WriteText(d.SelectionReason);
        w.WriteInt32(d.CandidateCount);
        w.WriteText(d.ExperimentId);
        w.WriteText(d.ExperimentVariant);
        w.WriteDouble(d.TotalMs);
        w.WriteDouble(d.StrategyMs);
        w.WriteDouble(d.EmbeddingMs);
        w.WriteDouble(d.CandidateFilterMs);
        w.WriteText(d.OutcomeStatus);
        w.WriteText(d.ErrorType);
        w.WriteText(d.ErrorMessage);
        w.WriteInt64(d.InputTokens);
        w.WriteInt64(d.OutputTokens);
        w.WriteInt64(d.TotalTokens);
        w.WriteBoolean(d.FallbackTriggered);
        w.WriteText(d.FallbackReason);
        w.WriteText(d.OriginalModel);
        w.WriteInt32(d.FallbackAttempt);
        w.WriteDouble(d.Performance);
        w.WriteText(d.QueryText);
        w.WriteText(d.AttributesJson);
        w.WriteDouble(d.SelectionProbability);
    }
}

/// <summary>SQLite (embedded mode): prepared <c>INSERT OR IGNORE</c> statements in one transaction.</summary>
public sealed class SqliteDecisionWriter(string connectionString, TimeProvider timeProvider) : IDecisionWriter
{
    private static readonly string Insert =
        $"INSERT OR IGNORE INTO decisions ({DecisionColumns.List}) VALUES ({string.Join(", ", DecisionColumns.Names.Select((_, i) => "$p" + i))})";
    private const string InsertRejected =
        "INSERT INTO rejected_events (received_at_ms, source, reason, raw_body, event_id) VALUES ($a, $b, $c, $d, $e)";

    // SQLite allows one writer at a time; serializing here avoids busy waits between our own batches.
    private readonly SemaphoreSlim _gate = new(1, 1);

    private static readonly string InsertFeedback =
        $"INSERT OR IGNORE INTO feedback ({DecisionColumns.FeedbackList}) VALUES ({string.Join(", ", DecisionColumns.FeedbackNames.Select((_, i) => "$f" + i))})";

    private const string FindDecision = "SELECT timestamp_ms, selected_deployment FROM decisions WHERE event_id = $e";

    public Task<WriteResult> WriteAsync(IReadOnlyList<RouterDecision> decisions, IReadOnlyList<RejectedEvent> rejected, CancellationToken cancellationToken)
        => WriteAsync(decisions, rejected, [], cancellationToken);

    public async Task<WriteResult> WriteAsync(IReadOnlyList<RouterDecision> decisions, IReadOnlyList<RejectedEvent> rejected,
        IReadOnlyList<RouterFeedback> feedback, CancellationToken cancellationToken)
    {
        if (decisions.Count == 0 && rejected.Count == 0 && feedback.Count == 0)
        {
            return default;
        }
        var now = timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using (var pragma = connection.CreateCommand())
            {
                pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=30000; PRAGMA synchronous=NORMAL;";
                await pragma.ExecuteNonQueryAsync(cancellationToken);
            }
            await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
            var inserted = 0;
            if (decisions.Count > 0)
            {
                await using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = Insert;
                var parameters = new SqliteParameter[DecisionColumns.Names.Length];
                for (var i = 0; i < parameters.Length; i++)
                {
                    parameters[i] = command.Parameters.Add(new SqliteParameter("$p" + i, null));
                }
                command.Prepare();
                foreach (var decision in decisions)
                {
                    var values = DecisionColumns.Values(decision, now);
                    for (var i = 0; i < values.Length; i++)
                    {
                        parameters[i].Value = values[i] ?? DBNull.Value;
                    }
                    inserted += await command.ExecuteNonQueryAsync(cancellationToken);
                }
            }
            if (rejected.Count > 0)
            {
                await using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = InsertRejected;
                foreach (var r in rejected)
                {
                    command.Parameters.Clear();
                    command.Parameters.AddWithValue("$a", now);
                    command.Parameters.AddWithValue("$b", r.Source);
                    command.Parameters.AddWithValue("$c", r.Reason);
                    command.Parameters.AddWithValue("$d", DecisionColumns.StoredBody(r.RawBody));
                    command.Parameters.AddWithValue("$e", (object?)r.EventId ?? DBNull.Value);
                    await command.ExecuteNonQueryAsync(cancellationToken);
                }
            }
            List<StoredGrade>? grades = null;
            if (feedback.Count > 0)
            {
                grades = [];
                await using var find = connection.CreateCommand();
                find.Transaction = transaction;
                find.CommandText = FindDecision;
                var eventId = find.Parameters.Add(new SqliteParameter("$e", null));
                find.Prepare();
                await using var command = connection.CreateCommand();
                command.Transaction = transaction;
                command.CommandText = InsertFeedback;
                var parameters = new SqliteParameter[DecisionColumns.FeedbackNames.Length];
                for (var i = 0; i < parameters.Length; i++)
                {
                    parameters[i] = command.Parameters.Add(new SqliteParameter("$f" + i, null));
                }
                command.Prepare();
                foreach (var f in feedback)
                {
                    var values = DecisionColumns.FeedbackValues(f, now);
                    for (var i = 0; i < values.Length; i++)
                    {
                        parameters[i].Value = values[i] ?? DBNull.Value;
                    }
                    if (await command.ExecuteNonQueryAsync(cancellationToken) == 0)
                    {
                        continue;
                    }
                    long? decisionTimestamp = null;
                    string? selected = null;
                    if (f.DecisionEventId is not null)
                    {
                        eventId.Value = f.DecisionEventId;
                        await using var reader = await find.ExecuteReaderAsync(cancellationToken);
                        if (await reader.ReadAsync(cancellationToken))
                        {
                            decisionTimestamp = reader.GetInt64(0);
                            selected = reader.IsDBNull(1) ? null : reader.GetString(1);
                        }
                    }
                    grades.Add(new StoredGrade(f.TimestampMs, f.Score, f.ModelName, decisionTimestamp, selected));
                }
            }
            await transaction.CommitAsync(cancellationToken);
            var feedbackInserted = grades?.Count ?? 0;
            return new WriteResult(inserted, decisions.Count - inserted, rejected.Count, feedbackInserted, feedback.Count - feedbackInserted,
                grades is { Count: > 0 } ? grades : null);
        }
        finally
        {
            _gate.Release();
        }
    }
}

/// <summary>Picks the writer for the configured database.</summary>
public static class DecisionWriterFactory
{
    public static IDecisionWriter Create(DatabaseSettings settings, TimeProvider timeProvider, out IAsyncDisposable? resource)
    {
        if (settings.Provider == DatabaseProvider.PostgreSql)
        {
            var dataSource = NpgsqlDataSource.Create(settings.ConnectionString);
            resource = dataSource;
            return new PostgresDecisionWriter(dataSource, settings.Schema, timeProvider);
        }
        resource = null;
        return new SqliteDecisionWriter(settings.ConnectionString, timeProvider);
    }
}
