using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace RouteIQ.ServiceDefaults;

// The SQL below embeds only the schema name, which comes from code and is checked against
// ValidSchema; nothing a user sends reaches it.
#pragma warning disable EF1002

/// <summary>
/// Creates a service's schema at start, before anything else of the service runs.
/// PostgreSQL: serialized across replicas with an advisory lock; the tables are created in the
/// service's own schema when that schema has none yet. SQLite: the file is created when absent.
/// The model's DDL hash is recorded, and a database created by an incompatible build is
/// reported instead of being used half-way.
/// </summary>
public sealed class SchemaInitializer<TContext>(IServiceProvider services, DatabaseSettings settings) : IHostedLifecycleService
    where TContext : DbContext
{
    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var context = scope.ServiceProvider.GetRequiredService<TContext>();
        var logger = scope.ServiceProvider.GetRequiredService<ILogger<SchemaInitializer<TContext>>>();
        await EnsureSchemaAsync(context, settings, logger, cancellationToken);
    }

    public static async Task EnsureSchemaAsync(TContext context, DatabaseSettings settings, ILogger logger, CancellationToken cancellationToken)
    {
        if (!System.Text.RegularExpressions.Regex.IsMatch(settings.Schema, "^[a-z_][a-z0-9_]*$"))
        {
            throw new ArgumentException($"schema name '{settings.Schema}' must match ^[a-z_][a-z0-9_]*$");
        }
        var script = context.Database.GenerateCreateScript();
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(script)))[..16];
        var creator = context.GetService<IRelationalDatabaseCreator>();

        try
        {
            if (settings.Provider == DatabaseProvider.Sqlite)
            {
                if (!await creator.ExistsAsync(cancellationToken))
                {
                    await creator.CreateAsync(cancellationToken);
                }
                if (!await creator.HasTablesAsync(cancellationToken))
                {
                    await creator.CreateTablesAsync(cancellationToken);
                    logger.LogInformation("Created the {Schema} tables in SQLite (model {ModelHash})", settings.Schema, hash);
                }
                return;
            }

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

            await context.Database.OpenConnectionAsync(cancellationToken);
            try
            {
                var lockKey = BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes("routeiq-schema:" + settings.Schema)), 0);
                await context.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_lock({lockKey})", cancellationToken);
                try
                {
                    var schema = settings.Schema;
                    await context.Database.ExecuteSqlRawAsync(
                        $"CREATE SCHEMA IF NOT EXISTS \"{schema}\"; CREATE TABLE IF NOT EXISTS \"{schema}\".\"__routeiq_schema\" (model_hash text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                        cancellationToken);
                    var tableCount = await context.Database
                        .SqlQueryRaw<int>($"SELECT count(*)::int AS \"Value\" FROM information_schema.tables WHERE table_schema = '{schema}' AND table_name <> '__routeiq_schema'")
                        .SingleAsync(cancellationToken);
                    if (tableCount == 0)
                    {
                        await context.Database.ExecuteSqlRawAsync(script, cancellationToken);
                        await context.Database.ExecuteSqlRawAsync(
                            $"INSERT INTO \"{schema}\".\"__routeiq_schema\" (model_hash) VALUES ('{hash}') ON CONFLICT DO NOTHING", cancellationToken);
                        logger.LogInformation("Created schema {Schema} in PostgreSQL (model {ModelHash})", schema, hash);
                    }
                    else
                    {
                        var known = await context.Database
                            .SqlQueryRaw<string>($"SELECT model_hash AS \"Value\" FROM \"{schema}\".\"__routeiq_schema\"")
                            .ToListAsync(cancellationToken);
                        if (!known.Contains(hash))
                        {
                            logger.LogWarning("Schema {Schema} was created by another build (models {Known}, this build {ModelHash})",
                                schema, string.Join(",", known), hash);
                        }
                    }
                }
                finally
                {
                    await context.Database.ExecuteSqlRawAsync($"SELECT pg_advisory_unlock({lockKey})", cancellationToken);
                }
            }
            finally
            {
                await context.Database.CloseConnectionAsync();
            }
        }
        catch (Exception ex) when (ex is Npgsql.NpgsqlException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException)
        {
            throw new RouteIQConfigurationException(DatabaseSettings.ConnectionStringKey,
                $"cannot prepare the {settings.Schema} schema ({FirstLine(ex)})");
        }
    }

    private static string FirstLine(Exception ex) => (ex.InnerException ?? ex).Message.Split('\n')[0].Trim();

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
