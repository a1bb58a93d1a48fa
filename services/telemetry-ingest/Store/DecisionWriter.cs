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
            await CopyAsync(connection, staged ? _copyStaging : _copyDirect, decisions, (rows, decision) => DecisionColumns.Decisions.CopyRow(rows, decision, now), cancellationToken);
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
            await CopyAsync(connection, _copyFeedbackStaging, distinct, (rows, f) => DecisionColumns.Feedback.CopyRow(rows, f, now), cancellationToken);
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
}

/// <summary>SQLite (embedded mode): prepared <c>INSERT OR IGNORE</c> statements in one transaction.</summary>
public sealed class SqliteDecisionWriter(string connectionString, TimeProvider timeProvider) : IDecisionWriter
{
    private static readonly string Insert = DecisionColumns.Decisions.SqliteInsertOrIgnore("$p");
    private const string InsertRejected =
        "INSERT INTO rejected_events (received_at_ms, source, reason, raw_body, event_id) VALUES ($a, $b, $c, $d, $e)";

    // SQLite allows one writer at a time; serializing here avoids busy waits between our own batches.
    private readonly SemaphoreSlim _gate = new(1, 1);

    private static readonly string InsertFeedback = DecisionColumns.Feedback.SqliteInsertOrIgnore("$f");

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
                var parameters = DecisionColumns.Decisions.AddSqliteParameters(command, "$p");
                command.Prepare();
                foreach (var decision in decisions)
                {
                    DecisionColumns.Decisions.Bind(parameters, decision, now);
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
                var parameters = DecisionColumns.Feedback.AddSqliteParameters(command, "$f");
                command.Prepare();
                foreach (var f in feedback)
                {
                    DecisionColumns.Feedback.Bind(parameters, f, now);
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
