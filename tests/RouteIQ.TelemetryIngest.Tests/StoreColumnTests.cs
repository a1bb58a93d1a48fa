using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>
/// The writers' column table (<see cref="DecisionColumns"/>) and the EF model (which the
/// migrations create) describe the same columns: a column added to one and not the other fails here,
/// not at the first COPY.
/// </summary>
public sealed class StoreColumnTests
{
    public static TheoryData<string> Tables() => ["decisions", "feedback"];

    [Theory]
    [MemberData(nameof(Tables))]
    public void The_column_table_names_every_column_of_the_model_with_its_type(string table)
    {
        var options = new DbContextOptionsBuilder<TelemetryDbContext>().UseNpgsql("Host=unused").Options;
        using var db = new TelemetryDbContext(options);
        var model = db.GetService<IDesignTimeModel>().Model;
        var entity = model.GetEntityTypes().Single(e => e.GetTableName() == table);
        var store = StoreObjectIdentifier.Table(table, entity.GetSchema());
        var modelColumns = entity.GetProperties()
            .ToDictionary(p => p.GetColumnName(store)!, p => p.GetColumnType(store));

        var columns = table == "decisions"
            ? DecisionColumns.Decisions.Columns.Select(c => (c.Name, c.PgType)).ToList()
            : DecisionColumns.Feedback.Columns.Select(c => (c.Name, c.PgType)).ToList();

        Assert.Equal(modelColumns.Keys.Order(StringComparer.Ordinal), columns.Select(c => c.Name).Order(StringComparer.Ordinal));
        foreach (var (name, pgType) in columns)
        {
            Assert.True(pgType == modelColumns[name], $"{table}.{name}: the table says {pgType}, the model {modelColumns[name]}");
        }
    }

    [Fact]
    public void A_reader_selects_by_the_names_and_positions_of_its_enum()
    {
        Assert.Equal("event_id, selection_probability, attributes_json", DecisionColumns.Decisions.SelectList<Good>());
        var ex = Assert.Throws<InvalidOperationException>(() => DecisionColumns.Decisions.SelectList<Unknown>());
        Assert.Contains("no column not_a_column", ex.Message);
        Assert.Throws<InvalidOperationException>(() => DecisionColumns.Decisions.SelectList<Gap>());
    }

    private enum Good { EventId, SelectionProbability, AttributesJson }

    private enum Unknown { EventId, NotAColumn }

    private enum Gap { EventId, Kind = 2 }
}
