using Microsoft.EntityFrameworkCore;

namespace RouteIQ.ServiceDefaults.Migrations;

/// <summary>
/// Options for <c>dotnet ef migrations add</c>: the provider comes from <c>ROUTEIQ_EF_PROVIDER</c>
/// (<c>sqlite</c> or <c>postgresql</c>), so each service's two migration sets are scaffolded from
/// the same model code (see scripts/add-migration.sh). No database is contacted.
/// </summary>
public static class DesignTimeDatabase
{
    public static DbContextOptions<TContext> Options<TContext>(string schema)
        where TContext : DbContext
    {
        var provider = Environment.GetEnvironmentVariable("ROUTEIQ_EF_PROVIDER");
        var settings = provider?.ToLowerInvariant() switch
        {
            "postgresql" => new DatabaseSettings(DatabaseProvider.PostgreSql, "Host=127.0.0.1;Database=routeiq_design", schema),
            "sqlite" => new DatabaseSettings(DatabaseProvider.Sqlite, "Data Source=design.db", schema),
            _ => throw new InvalidOperationException("set ROUTEIQ_EF_PROVIDER to sqlite or postgresql (scripts/add-migration.sh does)"),
        };
        var options = new DbContextOptionsBuilder<TContext>();
        PersistenceExtensions.ConfigureDbContext(options, settings);
        return options.Options;
    }
}
