using System.Linq.Expressions;
using Microsoft.Data.Sqlite;

namespace RouteIQ.TelemetryIngest.Store;

/// <summary>
/// One stored column of <typeparamref name="TRow"/>: its name, its PostgreSQL type (as the EF
/// model declares it; a test holds the two together), and its value in a row, both as binary COPY
/// writes it and as a SQLite parameter binds it.
/// </summary>
public abstract class StoreColumn<TRow>(string name, string pgType)
{
    public string Name { get; } = name;

    /// <summary>The column's PostgreSQL type: <c>text</c>, <c>json</c>, <c>bigint</c>, <c>integer</c>, <c>double precision</c> or <c>boolean</c>.</summary>
    public string PgType { get; } = pgType;

    /// <summary>The value, boxed as its CLR type (null for SQL NULL); <paramref name="ingestedAtMs"/> is the batch's write time.</summary>
    public abstract object? Value(TRow row, long ingestedAtMs);

    /// <summary>The call that writes the value in PostgreSQL's binary COPY format, typed as the column (see <see cref="StoreTable{TRow}"/>).</summary>
    internal abstract Expression Copy(ParameterExpression w, ParameterExpression row, ParameterExpression ingestedAtMs);
}

/// <summary>The kinds of <see cref="StoreColumn{TRow}"/>, one per PostgreSQL type the schema uses.</summary>
public static class StoreColumns<TRow>
{
    public static StoreColumn<TRow> Text(string name, Expression<Func<TRow, string?>> get)
        => new FieldColumn<string?>(name, "text", get, nameof(PgBinaryCopyBuffer.WriteText));

    /// <summary>A <c>json</c> column: binary COPY sends its text.</summary>
    public static StoreColumn<TRow> Json(string name, Expression<Func<TRow, string?>> get)
        => new FieldColumn<string?>(name, "json", get, nameof(PgBinaryCopyBuffer.WriteText));

    public static StoreColumn<TRow> Int64(string name, Expression<Func<TRow, long?>> get)
        => new FieldColumn<long?>(name, "bigint", get, nameof(PgBinaryCopyBuffer.WriteInt64));

    public static StoreColumn<TRow> Int32(string name, Expression<Func<TRow, int?>> get)
        => new FieldColumn<int?>(name, "integer", get, nameof(PgBinaryCopyBuffer.WriteInt32));

    public static StoreColumn<TRow> Double(string name, Expression<Func<TRow, double?>> get)
        => new FieldColumn<double?>(name, "double precision", get, nameof(PgBinaryCopyBuffer.WriteDouble));

    public static StoreColumn<TRow> Boolean(string name, Expression<Func<TRow, bool>> get)
        => new FieldColumn<bool>(name, "boolean", get, nameof(PgBinaryCopyBuffer.WriteBoolean));

    /// <summary>The time the batch is written (not a field of the row).</summary>
    public static StoreColumn<TRow> IngestedAt(string name) => new IngestedAtColumn(name);

    /// <summary>A field of the row, written by the <see cref="PgBinaryCopyBuffer"/> method <paramref name="write"/>.</summary>
    private sealed class FieldColumn<T>(string name, string pgType, Expression<Func<TRow, T>> get, string write) : StoreColumn<TRow>(name, pgType)
    {
        private readonly Func<TRow, T> _get = get.Compile();

        public override object? Value(TRow row, long ingestedAtMs) => _get(row);

        internal override Expression Copy(ParameterExpression w, ParameterExpression row, ParameterExpression ingestedAtMs)
        {
            var method = typeof(PgBinaryCopyBuffer).GetMethod(write)!;
            var value = Expression.Invoke(get, row);
            // WriteText's optional stripNul: expression trees pass every argument.
            return method.GetParameters().Length == 2
                ? Expression.Call(w, method, value, Expression.Constant(method.GetParameters()[1].DefaultValue, typeof(bool)))
                : Expression.Call(w, method, value);
        }
    }

    private sealed class IngestedAtColumn(string name) : StoreColumn<TRow>(name, "bigint")
    {
        public override object? Value(TRow row, long ingestedAtMs) => ingestedAtMs;

        internal override Expression Copy(ParameterExpression w, ParameterExpression row, ParameterExpression ingestedAtMs)
            => Expression.Call(w, typeof(PgBinaryCopyBuffer).GetMethod(nameof(PgBinaryCopyBuffer.WriteInt64))!, Expression.Convert(ingestedAtMs, typeof(long?)));
    }
}

/// <summary>
/// The columns a writer stores for one row type, in order: the one list the COPY column names
/// and values, the SQLite insert and its parameters, and the readers' column lists come from.
/// </summary>
public sealed class StoreTable<TRow>
{
    private readonly StoreColumn<TRow>[] _columns;
    private readonly Action<PgBinaryCopyBuffer, TRow, long> _copyRow;

    public StoreTable(string table, IReadOnlyList<StoreColumn<TRow>> columns)
    {
        Table = table;
        _columns = [.. columns];
        Names = [.. _columns.Select(c => c.Name)];
        List = string.Join(", ", Names);
        _copyRow = CompileCopyRow(_columns);
    }

    /// <summary>
    /// The COPY row writer compiled once from the columns: the same straight sequence of typed
    /// writes a hand-written one would be (a loop over the columns through delegates cost
    /// about 0.5 µs more per decision row).
    /// </summary>
    private static Action<PgBinaryCopyBuffer, TRow, long> CompileCopyRow(StoreColumn<TRow>[] columns)
    {
        var w = Expression.Parameter(typeof(PgBinaryCopyBuffer), "w");
        var row = Expression.Parameter(typeof(TRow), "row");
        var ingestedAtMs = Expression.Parameter(typeof(long), "ingestedAtMs");
        var startRow = Expression.Call(w, typeof(PgBinaryCopyBuffer).GetMethod(nameof(PgBinaryCopyBuffer.StartRow))!, Expression.Constant((short)columns.Length));
        var body = Expression.Block(columns.Select(c => c.Copy(w, row, ingestedAtMs)).Prepend(startRow));
        return Expression.Lambda<Action<PgBinaryCopyBuffer, TRow, long>>(body, w, row, ingestedAtMs).Compile();
    }

    public string Table { get; }

    public IReadOnlyList<StoreColumn<TRow>> Columns => _columns;

    public string[] Names { get; }

    /// <summary>The names, comma-separated, for COPY and INSERT column lists.</summary>
    public string List { get; }

    /// <summary>The values in <see cref="Names"/> order.</summary>
    public object?[] Values(TRow row, long ingestedAtMs)
    {
        var values = new object?[_columns.Length];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = _columns[i].Value(row, ingestedAtMs);
        }
        return values;
    }

    /// <summary>One binary COPY row in <see cref="Names"/> order.</summary>
    internal void CopyRow(PgBinaryCopyBuffer w, TRow row, long ingestedAtMs) => _copyRow(w, row, ingestedAtMs);

    /// <summary><c>INSERT OR IGNORE</c> into the table with one parameter per column, named <paramref name="prefix"/> + its position.</summary>
    public string SqliteInsertOrIgnore(string prefix)
        => $"INSERT OR IGNORE INTO {Table} ({List}) VALUES ({string.Join(", ", Names.Select((_, i) => prefix + i))})";

    /// <summary>Adds the parameters of <see cref="SqliteInsertOrIgnore"/> to <paramref name="command"/>, in column order.</summary>
    public SqliteParameter[] AddSqliteParameters(SqliteCommand command, string prefix)
    {
        var parameters = new SqliteParameter[_columns.Length];
        for (var i = 0; i < parameters.Length; i++)
        {
            parameters[i] = command.Parameters.Add(new SqliteParameter(prefix + i, null));
        }
        return parameters;
    }

    /// <summary>Sets the parameters of <see cref="AddSqliteParameters"/> to the row's values.</summary>
    public void Bind(SqliteParameter[] parameters, TRow row, long ingestedAtMs)
    {
        for (var i = 0; i < parameters.Length; i++)
        {
            parameters[i].Value = _columns[i].Value(row, ingestedAtMs) ?? DBNull.Value;
        }
    }

    /// <summary>
    /// The column list of a reader that names the columns it reads by the members of
    /// <typeparamref name="TColumns"/> (numbered 0, 1, 2, … in declaration order, each a column's
    /// name in PascalCase): a reader's positions are then the enum's values, and a name that is
    /// not a column of this table fails at once.
    /// </summary>
    public string SelectList<TColumns>() where TColumns : struct, Enum
    {
        var names = new List<string>();
        foreach (var value in Enum.GetValues<TColumns>())
        {
            var name = TelemetryDbContext.SnakeCase(value.ToString());
            if (Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture) != names.Count)
            {
                throw new InvalidOperationException($"{typeof(TColumns).Name}.{value}: expected position {names.Count}");
            }
            if (!Names.Contains(name))
            {
                throw new InvalidOperationException($"{typeof(TColumns).Name}.{value}: {Table} has no column {name}");
            }
            names.Add(name);
        }
        return string.Join(", ", names);
    }
}
