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

    /// <summary>The value in PostgreSQL's binary COPY format, typed as the column.</summary>
    internal abstract void Copy(PgBinaryCopyBuffer w, TRow row, long ingestedAtMs);
}

/// <summary>The kinds of <see cref="StoreColumn{TRow}"/>, one per PostgreSQL type the schema uses.</summary>
public static class StoreColumns<TRow>
{
    public static StoreColumn<TRow> Text(string name, Func<TRow, string?> get) => new TextColumn(name, "text", get);

    /// <summary>A <c>json</c> column: binary COPY sends its text.</summary>
    public static StoreColumn<TRow> Json(string name, Func<TRow, string?> get) => new TextColumn(name, "json", get);

    public static StoreColumn<TRow> Int64(string name, Func<TRow, long?> get) => new Int64Column(name, get);

    public static StoreColumn<TRow> Int32(string name, Func<TRow, int?> get) => new Int32Column(name, get);

    public static StoreColumn<TRow> Double(string name, Func<TRow, double?> get) => new DoubleColumn(name, get);

    public static StoreColumn<TRow> Boolean(string name, Func<TRow, bool> get) => new BooleanColumn(name, get);

    /// <summary>The time the batch is written (not a field of the row).</summary>
    public static StoreColumn<TRow> IngestedAt(string name) => new IngestedAtColumn(name);

    private sealed class TextColumn(string name, string pgType, Func<TRow, string?> get) : StoreColumn<TRow>(name, pgType)
    {
        public override object? Value(TRow row, long ingestedAtMs) => get(row);

        internal override void Copy(PgBinaryCopyBuffer w, TRow row, long ingestedAtMs) => w.WriteText(get(row));
    }

    private sealed class Int64Column(string name, Func<TRow, long?> get) : StoreColumn<TRow>(name, "bigint")
    {
        public override object? Value(TRow row, long ingestedAtMs) => get(row);

        internal override void Copy(PgBinaryCopyBuffer w, TRow row, long ingestedAtMs) => w.WriteInt64(get(row));
    }

    private sealed class Int32Column(string name, Func<TRow, int?> get) : StoreColumn<TRow>(name, "integer")
    {
        public override object? Value(TRow row, long ingestedAtMs) => get(row);

        internal override void Copy(PgBinaryCopyBuffer w, TRow row, long ingestedAtMs) => w.WriteInt32(get(row));
    }

    private sealed class DoubleColumn(string name, Func<TRow, double?> get) : StoreColumn<TRow>(name, "double precision")
    {
        public override object? Value(TRow row, long ingestedAtMs) => get(row);

        internal override void Copy(PgBinaryCopyBuffer w, TRow row, long ingestedAtMs) => w.WriteDouble(get(row));
    }

    private sealed class BooleanColumn(string name, Func<TRow, bool> get) : StoreColumn<TRow>(name, "boolean")
    {
        public override object? Value(TRow row, long ingestedAtMs) => get(row);

        internal override void Copy(PgBinaryCopyBuffer w, TRow row, long ingestedAtMs) => w.WriteBoolean(get(row));
    }

    private sealed class IngestedAtColumn(string name) : StoreColumn<TRow>(name, "bigint")
    {
        public override object? Value(TRow row, long ingestedAtMs) => ingestedAtMs;

        internal override void Copy(PgBinaryCopyBuffer w, TRow row, long ingestedAtMs) => w.WriteInt64(ingestedAtMs);
    }
}

/// <summary>
/// The columns a writer stores for one row type, in order: the one list the COPY column names
/// and values, the SQLite insert and its parameters, and the readers' column lists come from.
/// </summary>
public sealed class StoreTable<TRow>
{
    private readonly StoreColumn<TRow>[] _columns;

    public StoreTable(string table, IReadOnlyList<StoreColumn<TRow>> columns)
    {
        Table = table;
        _columns = [.. columns];
        Names = [.. _columns.Select(c => c.Name)];
        List = string.Join(", ", Names);
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
    internal void CopyRow(PgBinaryCopyBuffer w, TRow row, long ingestedAtMs)
    {
        var columns = _columns;
        w.StartRow((short)columns.Length);
        foreach (var column in columns)
        {
            column.Copy(w, row, ingestedAtMs);
        }
    }

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
