using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace RouteIQ.ServiceDefaults;

public enum DatabaseProvider
{
    Sqlite,
    PostgreSql,
}

/// <summary>Which database a service's DbContext uses, and its own schema (PostgreSQL) or file (SQLite).</summary>
public sealed record DatabaseSettings(DatabaseProvider Provider, string ConnectionString, string Schema)
{
    public const string ConnectionStringKey = "ConnectionStrings:RouteIQ";
    public const string MigrateOnStartKey = "RouteIQ:Database:MigrateOnStart";

    /// <summary>Apply pending migrations at start (default); when false, start refuses a schema that lacks one (<c>routeiq migrate</c> applies them).</summary>
    public bool MigrateOnStart { get; init; } = true;

    /// <summary>The key an operator fixes when this database is the problem.</summary>
    public string ConfigurationKey => Provider == DatabaseProvider.PostgreSql ? ConnectionStringKey : "RouteIQ:DataDir";
}

/// <summary>
/// One DbContext and one schema per service: PostgreSQL through Npgsql when
/// <c>ConnectionStrings:RouteIQ</c> is set, else a SQLite file per service in the data dir.
/// The schema is migrated at start (see <see cref="SchemaInitializer{TContext}"/>).
/// </summary>
public static class PersistenceExtensions
{
    /// <summary>
    /// A service's DbContext on its own schema, its ready check and its start-up migration; the first
    /// one in a process also checks that the configured PostgreSQL server can be reached.
    /// </summary>
    public static IHostApplicationBuilder AddRouteIQDbContext<TContext>(this IHostApplicationBuilder builder, string schema)
        where TContext : DbContext
    {
        if (!builder.Services.Any(d => d.ServiceType == typeof(DatabaseReachableMarker)))
        {
            EnsureDatabaseReachable(builder.Configuration);
            builder.Services.AddSingleton<DatabaseReachableMarker>();
        }
        var settings = ResolveDatabase(builder.Configuration, schema);
        OwnerOnlyFiles.EnsureSqliteDatabase(settings);
        builder.Services.AddKeyedSingleton<DatabaseSettings>(typeof(TContext), settings);
        builder.Services.AddPooledDbContextFactory<TContext>(options => ConfigureDbContext(options, settings));
        builder.Services.AddScoped(sp => sp.GetRequiredService<IDbContextFactory<TContext>>().CreateDbContext());
        builder.Services.AddSingleton(sp => new SchemaInitializer<TContext>(sp, settings));
        builder.Services.AddSingleton<ISchemaInitializer>(sp => sp.GetRequiredService<SchemaInitializer<TContext>>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SchemaInitializer<TContext>>());
        builder.Services.AddHealthChecks().AddDbContextCheck<TContext>($"db-{schema}", tags: ["ready"]);
        return builder;
    }

    /// <summary>
    /// Applies one service's pending migrations outside its host (<c>routeiq migrate</c>, a
    /// migration job): the same adoption, newer-database refusal and locking as at start.
    /// </summary>
    public static async Task<SchemaReport> MigrateAsync<TContext>(IConfiguration configuration, string schema, Func<DbContextOptions<TContext>, TContext> create,
        Microsoft.Extensions.Logging.ILogger logger, CancellationToken cancellationToken)
        where TContext : DbContext
    {
        var settings = ResolveDatabase(configuration, schema);
        OwnerOnlyFiles.EnsureSqliteDatabase(settings);
        var options = new DbContextOptionsBuilder<TContext>();
        ConfigureDbContext(options, settings);
        await using var context = create(options.Options);
        return await SchemaInitializer<TContext>.EnsureSchemaAsync(context, settings, migrate: true, logger, cancellationToken);
    }

    private sealed class DatabaseReachableMarker;

    /// <summary>Fails at start, naming the key, when the configured PostgreSQL server cannot be reached.</summary>
    private static void EnsureDatabaseReachable(IConfiguration configuration)
    {
        var settings = ResolveDatabase(configuration, "routeiq");
        if (settings.Provider != DatabaseProvider.PostgreSql)
        {
            return;
        }
        var csb = new NpgsqlConnectionStringBuilder(settings.ConnectionString);
        foreach (var host in csb.Host!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (name, port) = host.Contains(':') && !host.StartsWith('[')
                ? (host[..host.LastIndexOf(':')], int.Parse(host[(host.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture))
                : (host, csb.Port);
            if (name.StartsWith('/'))
            {
                return; // a Unix socket directory
            }
            using var client = new System.Net.Sockets.TcpClient();
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                client.ConnectAsync(name, port, cts.Token).AsTask().GetAwaiter().GetResult();
                return;
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException)
            {
                var why = ex is System.Net.Sockets.SocketException se ? se.SocketErrorCode.ToString() : "timed out";
                throw new RouteIQConfigurationException(DatabaseSettings.ConnectionStringKey, $"cannot reach PostgreSQL at {name}:{port} ({why})");
            }
        }
    }

    public static DatabaseSettings ResolveDatabase(IConfiguration configuration, string schema)
    {
        var postgres = configuration.GetConnectionString("RouteIQ");
        if (!string.IsNullOrWhiteSpace(postgres))
        {
            try
            {
                var csb = new NpgsqlConnectionStringBuilder(postgres);
                if (string.IsNullOrEmpty(csb.Host))
                {
                    throw new RouteIQConfigurationException(DatabaseSettings.ConnectionStringKey, "has no Host");
                }
                csb.Database ??= "routeiq";
                return new DatabaseSettings(DatabaseProvider.PostgreSql, csb.ConnectionString, schema) { MigrateOnStart = MigrateOnStart(configuration) };
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException)
            {
                throw new RouteIQConfigurationException(DatabaseSettings.ConnectionStringKey,
                    $"malformed PostgreSQL connection string ({ex.Message.Split('\n')[0]})");
            }
        }

        var dataDir = Path.GetFullPath(configuration[$"{RouteIQOptions.Section}:DataDir"] ?? "./.routeiq");
        try
        {
            OwnerOnlyFiles.EnsureDirectory(dataDir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RouteIQConfigurationException("RouteIQ:DataDir", $"cannot create '{dataDir}' ({ex.Message})");
        }
        var sqlite = new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dataDir, $"{schema}.db"),
            DefaultTimeout = 30,
            Pooling = true,
        };
        return new DatabaseSettings(DatabaseProvider.Sqlite, sqlite.ConnectionString, schema) { MigrateOnStart = MigrateOnStart(configuration) };
    }

    private static bool MigrateOnStart(IConfiguration configuration)
    {
        var value = configuration[DatabaseSettings.MigrateOnStartKey];
        if (string.IsNullOrWhiteSpace(value))
        {
            return true;
        }
        return bool.TryParse(value, out var migrate)
            ? migrate
            : throw new RouteIQConfigurationException(DatabaseSettings.MigrateOnStartKey, $"'{value}' is not true or false");
    }

    public static void ConfigureDbContext(DbContextOptionsBuilder options, DatabaseSettings settings)
    {
        if (settings.Provider == DatabaseProvider.PostgreSql)
        {
            options.UseNpgsql(settings.ConnectionString, npgsql =>
            {
                npgsql.MigrationsHistoryTable("__ef_migrations_history", settings.Schema);
                npgsql.EnableRetryOnFailure(3);
            });
        }
        else
        {
            options.UseSqlite(settings.ConnectionString);
            options.AddInterceptors(SqlitePragmas.Instance);
        }
        options.ReplaceService<Microsoft.EntityFrameworkCore.Migrations.IMigrationsAssembly, Migrations.ProviderMigrationsAssembly>();
    }

    /// <summary>
    /// The schema for a model: the service's own schema on PostgreSQL; SQLite has none (each
    /// service has its own file instead).
    /// </summary>
    public static void UseRouteIQSchema(this ModelBuilder modelBuilder, DbContext context, string schema)
    {
        if (context.Database.IsNpgsql())
        {
            modelBuilder.HasDefaultSchema(schema);
        }
    }

    /// <summary>WAL and a busy timeout so the embedded mode's concurrent writers wait instead of failing.</summary>
    private sealed class SqlitePragmas : Microsoft.EntityFrameworkCore.Diagnostics.DbConnectionInterceptor
    {
        public static readonly SqlitePragmas Instance = new();

        public override void ConnectionOpened(DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEndEventData eventData)
            => Apply(connection);

        public override Task ConnectionOpenedAsync(DbConnection connection, Microsoft.EntityFrameworkCore.Diagnostics.ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            Apply(connection);
            return Task.CompletedTask;
        }

        private static void Apply(DbConnection connection)
        {
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=30000; PRAGMA synchronous=NORMAL;";
            command.ExecuteNonQuery();
        }
    }
}
