using Microsoft.EntityFrameworkCore.Design;
using RouteIQ.ServiceDefaults.Migrations;

namespace RouteIQ.Rollout.Registry;

/// <summary>For `dotnet ef` only (scripts/add-migration.sh): the provider comes from ROUTEIQ_EF_PROVIDER.</summary>
internal sealed class RegistryDbContextDesignTimeFactory : IDesignTimeDbContextFactory<RegistryDbContext>
{
    public RegistryDbContext CreateDbContext(string[] args) => new(DesignTimeDatabase.Options<RegistryDbContext>(RegistryDbContext.Schema));
}
