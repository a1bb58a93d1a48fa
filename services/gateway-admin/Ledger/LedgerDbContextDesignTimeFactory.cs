using Microsoft.EntityFrameworkCore.Design;
using RouteIQ.ServiceDefaults.Migrations;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>For `dotnet ef` only (scripts/add-migration.sh): the provider comes from ROUTEIQ_EF_PROVIDER.</summary>
internal sealed class LedgerDbContextDesignTimeFactory : IDesignTimeDbContextFactory<LedgerDbContext>
{
    public LedgerDbContext CreateDbContext(string[] args) => new(DesignTimeDatabase.Options<LedgerDbContext>(LedgerDbContext.Schema));
}
