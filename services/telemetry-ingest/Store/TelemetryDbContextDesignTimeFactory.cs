using Microsoft.EntityFrameworkCore.Design;
using RouteIQ.ServiceDefaults.Migrations;

namespace RouteIQ.TelemetryIngest.Store;

/// <summary>For `dotnet ef` only (scripts/add-migration.sh): the provider comes from ROUTEIQ_EF_PROVIDER.</summary>
internal sealed class TelemetryDbContextDesignTimeFactory : IDesignTimeDbContextFactory<TelemetryDbContext>
{
    public TelemetryDbContext CreateDbContext(string[] args) => new(DesignTimeDatabase.Options<TelemetryDbContext>(TelemetryDbContext.Schema));
}
