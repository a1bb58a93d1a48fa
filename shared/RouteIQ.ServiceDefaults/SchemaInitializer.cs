using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Migrations.Operations;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RouteIQ.ServiceDefaults;

// The SQL below embeds only the schema name, which comes from code and is checked against
// ValidSchema; nothing a user sends reaches it.
#pragma warning disable EF1002

/// <summary>
/// Brings a service's schema to this build's migration before anything else of the service runs
/// (or, with <c>RouteIQ:Database:MigrateOnStart=false</c>, only checks that someone did — see
/// <c>routeiq migrate</c>). PostgreSQL: serialized across replicas with an advisory lock.
/// A database made by the release before migrations (tables, no history) is adopted: its tables
/// are checked against the first migration, which is then recorded as applied. A database that a
/// newer build migrated is refused with one line (exit code 2), never used half-way.
/// </summary>
public sealed class SchemaInitializer<TContext>(IServiceProvider services, DatabaseSettings settings) : IHostedLifecycleService, ISchemaInitializer
    where TContext : DbContext
{
    private readonly SemaphoreSlim _once = new(1, 1);
    private bool _done;

    public Task StartingAsync(CancellationToken cancellationToken) => InitializeAsync(cancellationToken);

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _once.WaitAsync(cancellationToken);
        try
        {
            if (!_done)
            {
                await InitializeOnceAsync(cancellationToken);
                _done = true;
            }
        }
        finally
        {
            _once.Release();
        }
    }

    private async Task InitializeOnceAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var context = scope.ServiceProvider.GetRequiredService<TContext>();
        var logger = scope.ServiceProvider.GetRequiredService<ILogger<SchemaInitializer<TContext>>>();
        await EnsureSchemaAsync(context, settings, logger, cancellationToken);
    }

    /// <summary>Applies this build's pending migrations (when <see cref="DatabaseSettings.MigrateOnStart"/>) or checks that none is pending.</summary>
    public static async Task<SchemaReport> EnsureSchemaAsync(TContext context, DatabaseSettings settings, ILogger logger, CancellationToken cancellationToken)
        => await EnsureSchemaAsync(context, settings, settings.MigrateOnStart, logger, cancellationToken);

    public static async Task<SchemaReport> EnsureSchemaAsync(TContext context, DatabaseSettings settings, bool migrate, ILogger logger, CancellationToken cancellationToken)
    {
        if (!System.Text.RegularExpressions.Regex.IsMatch(settings.Schema, @"^[a-z_][a-z0-9_]*\z"))
        {
            throw new ArgumentException($"schema name '{settings.Schema}' must match ^[a-z_][a-z0-9_]*$");
        }
        var creator = context.GetService<IRelationalDatabaseCreator>();
        try
        {
            if (!await creator.ExistsAsync(cancellationToken))
            {
                try
                {
                    await creator.CreateAsync(cancellationToken);
                }
                catch (Npgsql.PostgresException ex) when (ex.SqlState == "42P04")
                {
                    // Another replica created the database first.
                }
            }

            if (settings.Provider == DatabaseProvider.Sqlite)
            {
                // EF serializes SQLite migrations itself (its __EFMigrationsLock table).
                return await MigrateAsync(context, settings, migrate, logger, cancellationToken);
            }

            await context.Database.OpenConnectionAsync(cancellationToken);
            try
            {
                var lockKey = BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes("routeiq-schema:" + settings.Schema)), 0);
                await context.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_lock({lockKey})", cancellationToken);
                try
                {
                    await context.Database.ExecuteSqlRawAsync($"CREATE SCHEMA IF NOT EXISTS \"{settings.Schema}\"", cancellationToken);
                    return await MigrateAsync(context, settings, migrate, logger, cancellationToken);
                }
                finally
                {
                    await context.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_unlock({lockKey})", CancellationToken.None);
                }
            }
            finally
            {
                await context.Database.CloseConnectionAsync();
            }
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or Microsoft.Data.Sqlite.SqliteException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException)
        {
            throw new RouteIQConfigurationException(settings.ConfigurationKey,
                $"cannot prepare the {settings.Schema} schema ({FirstLine(ex)})");
        }
    }

    private static async Task<SchemaReport> MigrateAsync(TContext context, DatabaseSettings settings, bool migrate, ILogger logger, CancellationToken cancellationToken)
    {
        var assembly = context.GetService<IMigrationsAssembly>();
        var history = context.GetService<IHistoryRepository>();
        var known = assembly.Migrations.Keys.ToList();
        if (known.Count == 0)
        {
            throw new InvalidOperationException($"{typeof(TContext).Name} has no migrations for {ProviderName(settings)}");
        }

        var adopted = false;
        var historyExists = await HistoryExistsAsync(context, settings, cancellationToken);
        if (!historyExists && await CountTablesAsync(context, settings, cancellationToken) > 0)
        {
            await AdoptAsync(context, settings, assembly, history, known[0], cancellationToken);
            adopted = historyExists = true;
            logger.LogInformation("Adopted the {Schema} tables of the release before migrations as migration {Migration}", settings.Schema, known[0]);
        }

        var applied = historyExists
            ? (await history.GetAppliedMigrationsAsync(cancellationToken)).Select(r => r.MigrationId).ToList()
            : [];
        var unknown = applied.Where(id => !known.Contains(id)).ToList();
        if (unknown.Count > 0)
        {
            throw new RouteIQConfigurationException(settings.ConfigurationKey,
                $"the {settings.Schema} schema was migrated by a newer RouteIQ (migration {unknown[^1]}; this build knows up to {known[^1]}): run the newer build or restore a backup");
        }

        var pending = known.Where(id => !applied.Contains(id)).ToList();
        if (pending.Count > 0)
        {
            if (!migrate)
            {
                throw new RouteIQConfigurationException(settings.ConfigurationKey,
                    $"the {settings.Schema} schema lacks {pending.Count} migration(s) up to {pending[^1]} and RouteIQ:Database:MigrateOnStart is false: run `routeiq migrate`");
            }
            if (!historyExists)
            {
                // On a fresh PostgreSQL database the migrator reads the history before creating it and logs that failed
                // query as an error (then carries on): create it first, so a first start logs no error.
                await context.Database.ExecuteSqlRawAsync(history.GetCreateIfNotExistsScript(), cancellationToken);
            }
            await context.GetService<IMigrator>().MigrateAsync(cancellationToken: cancellationToken);
            logger.LogInformation("Migrated schema {Schema} in {Provider}: {Migrations}", settings.Schema, ProviderName(settings), string.Join(", ", pending));
        }
        return new SchemaReport(settings.Schema, ProviderName(settings), adopted, pending.Count > 0 && migrate ? pending : [], known[^1]);
    }

    /// <summary>
    /// Records the first migration as applied to tables the release before migrations created,
    /// after checking that every table and column it would create is there.
    /// </summary>
    private static async Task AdoptAsync(TContext context, DatabaseSettings settings, IMigrationsAssembly assembly, IHistoryRepository history, string initialId,
        CancellationToken cancellationToken)
    {
        var initial = assembly.CreateMigration(assembly.Migrations[initialId], context.Database.ProviderName!);
        foreach (var table in initial.UpOperations.OfType<CreateTableOperation>())
        {
            var columns = await ColumnsAsync(context, settings, table.Name, cancellationToken);
            var missing = table.Columns.Select(c => c.Name).Where(c => !columns.Contains(c)).ToList();
            if (missing.Count > 0)
            {
                throw new RouteIQConfigurationException(settings.ConfigurationKey,
                    $"the {settings.Schema} schema has tables this build cannot adopt: table {table.Name} lacks {string.Join(", ", missing)}");
            }
        }
        await context.Database.ExecuteSqlRawAsync(history.GetCreateIfNotExistsScript(), cancellationToken);
        await context.Database.ExecuteSqlRawAsync(
            history.GetInsertScript(new HistoryRow(initialId, ProductInfo.GetVersion())), cancellationToken);
    }

    // Npgsql's IHistoryRepository.ExistsAsync answers true before the table exists (it is made
    // to be followed by CREATE … IF NOT EXISTS), so the catalogs are asked directly.
    private static async Task<bool> HistoryExistsAsync(TContext context, DatabaseSettings settings, CancellationToken cancellationToken)
        => settings.Provider == DatabaseProvider.Sqlite
            ? await context.Database.SqlQueryRaw<int>("SELECT count(*) AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name = '__EFMigrationsHistory'")
                .SingleAsync(cancellationToken) > 0
            : await context.Database.SqlQueryRaw<bool>($"SELECT to_regclass('\"{settings.Schema}\".\"__ef_migrations_history\"') IS NOT NULL AS \"Value\"")
                .SingleAsync(cancellationToken);

    private static async Task<int> CountTablesAsync(TContext context, DatabaseSettings settings, CancellationToken cancellationToken)
        => settings.Provider == DatabaseProvider.Sqlite
            ? await context.Database.SqlQueryRaw<int>(
                    "SELECT count(*) AS \"Value\" FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_\\_%' ESCAPE '\\'")
                .SingleAsync(cancellationToken)
            : await context.Database.SqlQueryRaw<int>(
                    $"SELECT count(*)::int AS \"Value\" FROM information_schema.tables WHERE table_schema = '{settings.Schema}' AND table_name NOT LIKE '\\_\\_%'")
                .SingleAsync(cancellationToken);

    private static async Task<HashSet<string>> ColumnsAsync(TContext context, DatabaseSettings settings, string table, CancellationToken cancellationToken)
    {
        var names = settings.Provider == DatabaseProvider.Sqlite
            ? await context.Database.SqlQueryRaw<string>("SELECT name AS \"Value\" FROM pragma_table_info({0})", table).ToListAsync(cancellationToken)
            : await context.Database.SqlQueryRaw<string>(
                    "SELECT column_name::text AS \"Value\" FROM information_schema.columns WHERE table_schema = {0} AND table_name = {1}", settings.Schema, table)
                .ToListAsync(cancellationToken);
        return names.ToHashSet(StringComparer.Ordinal);
    }

    private static string ProviderName(DatabaseSettings settings) => settings.Provider == DatabaseProvider.Sqlite ? "SQLite" : "PostgreSQL";

    private static string FirstLine(Exception ex) => (ex.InnerException ?? ex).Message.Split('\n')[0].Trim();

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// A schema to prepare before the host starts: <see cref="RouteIQHost"/> runs these first, so a
/// schema problem ends the process with its one line instead of a host start failure logged with
/// a stack trace; hosts started otherwise run them as hosted services.
/// </summary>
public interface ISchemaInitializer
{
    Task InitializeAsync(CancellationToken cancellationToken);
}

/// <summary>What <see cref="SchemaInitializer{TContext}"/> did to one schema.</summary>
public sealed record SchemaReport(string Schema, string Provider, bool Adopted, IReadOnlyList<string> Applied, string Current);
