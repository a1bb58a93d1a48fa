using System.Reflection;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

namespace RouteIQ.ServiceDefaults.Migrations;

/// <summary>
/// The migrations of one DbContext for one provider. A service keeps both providers' migrations
/// in its own assembly, in the namespaces <c>….Migrations.Sqlite</c> and <c>….Migrations.PostgreSql</c>
/// (EF's own discovery would mix them, since both sets name the same context); this picks the set
/// of the provider the context runs on, for the runtime and for <c>dotnet ef</c> alike.
/// </summary>
public sealed class ProviderMigrationsAssembly : IMigrationsAssembly
{
    private readonly Type _contextType;
    private readonly string _namespaceSuffix;
    private readonly Lazy<IReadOnlyDictionary<string, TypeInfo>> _migrations;
    private readonly Lazy<ModelSnapshot?> _snapshot;

    public ProviderMigrationsAssembly(ICurrentDbContext currentContext)
    {
        _contextType = currentContext.Context.GetType();
        Assembly = _contextType.Assembly;
        _namespaceSuffix = ".Migrations." + FolderFor(currentContext.Context.Database);
        _migrations = new(() => OwnTypes()
            .Where(t => t.IsSubclassOf(typeof(Migration)) && t.GetCustomAttribute<MigrationAttribute>() is not null)
            .Select(t => (Id: t.GetCustomAttribute<MigrationAttribute>()!.Id, Type: t))
            .OrderBy(m => m.Id, StringComparer.Ordinal)
            .ToDictionary(m => m.Id, m => m.Type));
        _snapshot = new(() => OwnTypes()
            .Where(t => t.IsSubclassOf(typeof(ModelSnapshot)))
            .Select(t => (ModelSnapshot)Activator.CreateInstance(t.AsType())!)
            .FirstOrDefault());
    }

    /// <summary>The folder (and namespace segment) of a provider's migrations.</summary>
    public static string FolderFor(DatabaseFacade database) => database.IsNpgsql() ? "PostgreSql" : "Sqlite";

    public IReadOnlyDictionary<string, TypeInfo> Migrations => _migrations.Value;

    public ModelSnapshot? ModelSnapshot => _snapshot.Value;

    public Assembly Assembly { get; }

    public string? FindMigrationId(string nameOrId)
        => Migrations.Keys.FirstOrDefault(id => string.Equals(id, nameOrId, StringComparison.OrdinalIgnoreCase))
           ?? Migrations.Keys.FirstOrDefault(id => string.Equals(id[(id.IndexOf('_') + 1)..], nameOrId, StringComparison.OrdinalIgnoreCase));

    public Migration CreateMigration(TypeInfo migrationClass, string activeProvider)
    {
        var migration = (Migration)Activator.CreateInstance(migrationClass.AsType())!;
        migration.ActiveProvider = activeProvider;
        return migration;
    }

    private IEnumerable<TypeInfo> OwnTypes()
        => Assembly.DefinedTypes.Where(t =>
            !t.IsAbstract
            && t.Namespace is { } ns && ns.EndsWith(_namespaceSuffix, StringComparison.Ordinal)
            && t.GetCustomAttribute<DbContextAttribute>()?.ContextType == _contextType);
}
