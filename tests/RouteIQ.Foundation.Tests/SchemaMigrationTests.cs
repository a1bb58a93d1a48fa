using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.Rollout.Registry;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest.Store;
using RouteIQ.Testing;

namespace RouteIQ.Foundation.Tests;

// Table and schema names in the SQL below come from the test's own constants.
#pragma warning disable EF1002

/// <summary>
/// Every service's schema comes from EF Core migrations for both providers: a fresh database is
/// migrated, a database of the release before migrations (created from its DDL, kept in
/// Upgrade/release-1) is adopted without loss, a database a newer build migrated is refused.
/// The upgrade through the real previous release is RouteIQ.EndToEnd.Tests' UpgradeTests.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SchemaMigrationTests
{
    public static TheoryData<string, string> Stores()
    {
        var data = new TheoryData<string, string>();
        foreach (var service in Services.Keys)
        {
            data.Add(service, "sqlite");
            data.Add(service, "postgresql");
        }
        return data;
    }

    private static readonly Dictionary<string, (string Schema, Func<DatabaseSettings, DbContext> Create)> Services = new()
    {
        ["gateway-admin"] = (LedgerDbContext.Schema, s => new LedgerDbContext(Options<LedgerDbContext>(s))),
        ["rollout"] = (RegistryDbContext.Schema, s => new RegistryDbContext(Options<RegistryDbContext>(s))),
        ["telemetry-ingest"] = (TelemetryDbContext.Schema, s => new TelemetryDbContext(Options<TelemetryDbContext>(s))),
    };

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_fresh_database_gets_every_migration_and_the_model_matches_the_last(string service, string provider)
    {
        var settings = await NewStoreAsync(service, provider);
        await using var context = Services[service].Create(settings);

        var report = await EnsureAsync(context, settings);

        Assert.False(report.Adopted);
        var known = context.GetService<IMigrationsAssembly>().Migrations.Keys.ToList();
        Assert.Equal(known, report.Applied);
        Assert.Equal(known, await context.Database.GetAppliedMigrationsAsync());
        Assert.False(context.Database.HasPendingModelChanges(), $"{service} ({provider}): the model changed without a migration (scripts/add-migration.sh)");
        // Only this provider's migrations: the other provider's set lives in another namespace.
        Assert.All(known, id => Assert.EndsWith(ServiceDefaults.Migrations.ProviderMigrationsAssembly.FolderFor(context.Database),
            context.GetService<IMigrationsAssembly>().Migrations[id].Namespace));

        // Idempotent: a second start applies nothing.
        var again = await EnsureAsync(context, settings);
        Assert.Empty(again.Applied);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task The_release_before_migrations_is_adopted_with_its_rows_and_ends_identical_to_a_fresh_schema(string service, string provider)
    {
        var old = await NewStoreAsync(service, provider);
        await using (var context = Services[service].Create(old))
        {
            await CreateLikeReleaseOneAsync(context, old, service, provider);
            await context.Database.ExecuteSqlRawAsync(SampleRowSql(service, provider, old.Schema));
        }
        var fresh = await NewStoreAsync(service, provider);
        await using (var context = Services[service].Create(fresh))
        {
            await EnsureAsync(context, fresh);
        }

        await using (var context = Services[service].Create(old))
        {
            var report = await EnsureAsync(context, old);
            Assert.True(report.Adopted);
            Assert.Equal(context.GetService<IMigrationsAssembly>().Migrations.Keys.Skip(1), report.Applied);
            Assert.Equal(1, await CountRowsAsync(context, old, FirstTable(service)));
        }
        Assert.Equal(await DescribeAsync(fresh), await DescribeAsync(old));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task Tables_that_do_not_match_the_first_migration_are_refused_naming_the_column(string provider)
    {
        var settings = await NewStoreAsync("gateway-admin", provider);
        await using var context = Services["gateway-admin"].Create(settings);
        await CreateLikeReleaseOneAsync(context, settings, "gateway-admin", provider);
        await context.Database.ExecuteSqlRawAsync(provider == "sqlite"
            ? "ALTER TABLE jobs DROP COLUMN \"LogsUri\""
            : $"ALTER TABLE \"{settings.Schema}\".jobs DROP COLUMN \"LogsUri\"");

        var error = await Assert.ThrowsAsync<RouteIQConfigurationException>(() => EnsureAsync(context, settings));
        Assert.True(error.Message.Contains("LogsUri", StringComparison.Ordinal), error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task A_database_newer_than_the_code_is_refused_in_one_line(string provider)
    {
        var settings = await NewStoreAsync("rollout", provider);
        await using var context = Services["rollout"].Create(settings);
        await EnsureAsync(context, settings);
        var history = context.GetService<IHistoryRepository>();
        await context.Database.ExecuteSqlRawAsync(history.GetInsertScript(new HistoryRow("29991231235959_FromTheFuture", "99.0.0")));

        var error = await Assert.ThrowsAsync<RouteIQConfigurationException>(() => EnsureAsync(context, settings));
        Assert.Contains("newer RouteIQ", error.Message);
        Assert.Contains("29991231235959_FromTheFuture", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task Without_migrate_on_start_a_pending_migration_stops_the_start_and_routeiq_migrate_applies_it(string provider)
    {
        var settings = await NewStoreAsync("telemetry-ingest", provider);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RouteIQ:DataDir"] = settings.Provider == DatabaseProvider.Sqlite ? Path.GetDirectoryName(new SqliteConnectionStringBuilder(settings.ConnectionString).DataSource) : null,
            ["ConnectionStrings:RouteIQ"] = settings.Provider == DatabaseProvider.PostgreSql ? settings.ConnectionString : null,
            [DatabaseSettings.MigrateOnStartKey] = "false",
        }).Build();
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddConfiguration(configuration);
        builder.AddRouteIQDbContext<TelemetryDbContext>(TelemetryDbContext.Schema);
        using (var host = builder.Build())
        {
            var error = await Assert.ThrowsAsync<RouteIQConfigurationException>(() => host.StartAsync());
            Assert.Contains("routeiq migrate", error.Message);
        }

        var report = await PersistenceExtensions.MigrateAsync<TelemetryDbContext>(configuration, TelemetryDbContext.Schema, o => new TelemetryDbContext(o), NullLogger.Instance, CancellationToken.None);
        Assert.NotEmpty(report.Applied);

        var again = Host.CreateApplicationBuilder();
        again.Configuration.AddConfiguration(configuration);
        again.AddRouteIQDbContext<TelemetryDbContext>(TelemetryDbContext.Schema);
        using var started = again.Build();
        await started.StartAsync();
        await started.StopAsync();
    }

    [Fact]
    public async Task Replicas_starting_together_on_PostgreSQL_migrate_once()
    {
        var settings = await NewStoreAsync("gateway-admin", "postgresql");
        var reports = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            await using var context = Services["gateway-admin"].Create(settings);
            return await EnsureAsync(context, settings);
        }));
        Assert.Single(reports, r => r.Applied.Count > 0);
    }

    private static async Task<SchemaReport> EnsureAsync(DbContext context, DatabaseSettings settings)
    {
        var method = typeof(SchemaInitializer<>).MakeGenericType(context.GetType())
            .GetMethod(nameof(SchemaInitializer<DbContext>.EnsureSchemaAsync), [context.GetType(), typeof(DatabaseSettings), typeof(bool), typeof(Microsoft.Extensions.Logging.ILogger), typeof(CancellationToken)])!;
        try
        {
            return await (Task<SchemaReport>)method.Invoke(null, [context, settings, true, NullLogger.Instance, CancellationToken.None])!;
        }
        catch (System.Reflection.TargetInvocationException ex) when (ex.InnerException is not null)
        {
            throw ex.InnerException;
        }
    }

    private static async Task<DatabaseSettings> NewStoreAsync(string service, string provider)
    {
        var values = new Dictionary<string, string?> { ["RouteIQ:DataDir"] = TestInfra.TempDirectory("migrations") };
        if (provider == "postgresql")
        {
            values["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("migrations");
        }
        return PersistenceExtensions.ResolveDatabase(new ConfigurationBuilder().AddInMemoryCollection(values).Build(), Services[service].Schema);
    }

    private static DbContextOptions<T> Options<T>(DatabaseSettings settings)
        where T : DbContext
    {
        var options = new DbContextOptionsBuilder<T>();
        PersistenceExtensions.ConfigureDbContext(options, settings);
        return options.Options;
    }

    /// <summary>What release 1 did at start: the model's DDL (kept as it was then), on PostgreSQL in the service's schema.</summary>
    private static async Task CreateLikeReleaseOneAsync(DbContext context, DatabaseSettings settings, string service, string provider)
    {
        var ddl = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Upgrade", "release-1", $"{service}.{provider}.sql"));
        if (provider == "sqlite")
        {
            await context.Database.EnsureCreatedAsync(); // the file, then drop EF's tables and run the old DDL
            foreach (var table in await context.Database.SqlQueryRaw<string>("SELECT name AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").ToListAsync())
            {
                await context.Database.ExecuteSqlRawAsync($"DROP TABLE \"{table}\"");
            }
        }
        else
        {
            await context.Database.EnsureCreatedAsync();
            await context.Database.ExecuteSqlRawAsync($"DROP SCHEMA IF EXISTS \"{settings.Schema}\" CASCADE; CREATE SCHEMA \"{settings.Schema}\"");
        }
        await context.Database.ExecuteSqlRawAsync(ddl.TrimStart('\uFEFF'));
    }

    private static string FirstTable(string service) => service switch
    {
        "gateway-admin" => "jobs",
        "rollout" => "models",
        _ => "datasets",
    };

    private static string SampleRowSql(string service, string provider, string schema)
    {
        var prefix = provider == "sqlite" ? "" : $"\"{schema}\".";
        var now = provider == "sqlite" ? "0" : "now()";
        return service switch
        {
            "gateway-admin" => $"INSERT INTO {prefix}jobs (\"Id\",\"Kind\",\"State\",\"Attempt\",\"HandBacks\",\"RollOnSuccess\",\"CreatedAt\",\"RequestJson\",\"Revision\") VALUES ('{Guid.NewGuid()}','train','queued',1,0,{(provider == "sqlite" ? "0" : "false")},{now},'[]',0)",
            "rollout" => $"INSERT INTO {prefix}models (\"Name\",\"NextVersion\",\"CreatedAt\") VALUES ('m',2,{(provider == "sqlite" ? "'2026-01-01 00:00:00+00:00'" : "now()")})",
            _ => $"INSERT INTO {prefix}datasets (dataset_id,created_at_ms,uri,total_records,train_records,test_records,unique_queries,metadata_json) VALUES ('d',0,'file:///d',1,1,0,1,'[]')",
        };
    }

    private static async Task<long> CountRowsAsync(DbContext context, DatabaseSettings settings, string table)
        => await context.Database.SqlQueryRaw<long>(settings.Provider == DatabaseProvider.Sqlite
            ? $"SELECT count(*) AS \"Value\" FROM \"{table}\""
            : $"SELECT count(*) AS \"Value\" FROM \"{settings.Schema}\".\"{table}\"").SingleAsync();

    /// <summary>Tables, columns (type, nullability, default, collation) and indexes, in a stable order.</summary>
    private static async Task<string> DescribeAsync(DatabaseSettings settings)
    {
        var lines = new List<string>();
        if (settings.Provider == DatabaseProvider.Sqlite)
        {
            await using var connection = new SqliteConnection(settings.ConnectionString);
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                SELECT m.name || '.' || c.name || ' ' || c.type || ' notnull=' || c."notnull" || ' pk=' || c.pk || ' default=' || ifnull(c.dflt_value, '')
                FROM sqlite_master m JOIN pragma_table_info(m.name) c
                WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '\_\_%' ESCAPE '\'
                UNION ALL
                SELECT 'index ' || ifnull(sql, name) FROM sqlite_master WHERE type = 'index' AND tbl_name NOT LIKE '\_\_%' ESCAPE '\'
                """;
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                lines.Add(reader.GetString(0));
            }
        }
        else
        {
            await using var connection = new NpgsqlConnection(settings.ConnectionString);
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(character_maximum_length::text, '') || ' nullable=' || is_nullable
                       || ' default=' || coalesce(column_default, '') || ' collation=' || coalesce(collation_name, '') || ' identity=' || is_identity
                FROM information_schema.columns WHERE table_schema = @schema AND table_name NOT LIKE '\_\_%'
                UNION ALL
                SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = @schema AND tablename NOT LIKE '\_\_%'
                """;
            command.Parameters.AddWithValue("schema", settings.Schema);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                lines.Add(reader.GetString(0));
            }
        }
        lines.Sort(StringComparer.Ordinal);
        return string.Join('\n', lines);
    }
}
