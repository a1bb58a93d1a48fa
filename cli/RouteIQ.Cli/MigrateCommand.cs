using System.CommandLine;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.Rollout.Registry;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.Cli;

/// <summary>
/// <c>routeiq migrate</c>: brings each service's schema to this build's last migration and exits,
/// for operators who migrate before starting services with <c>RouteIQ:Database:MigrateOnStart=false</c>.
/// The database comes from the same configuration as the services (<c>ConnectionStrings__RouteIQ</c>,
/// else the SQLite files in <c>RouteIQ__DataDir</c>).
/// </summary>
internal static class MigrateCommand
{
    private static readonly string[] Services = ["gateway-admin", "rollout", "telemetry-ingest"];

    public static Command Build(Option<bool> json)
    {
        var service = new Option<string[]>("--service")
        {
            Description = $"Only these services' schemas ({string.Join(", ", Services)}); default all",
            AllowMultipleArgumentsPerToken = true,
        };
        service.AcceptOnlyFromAmong(Services);
        var command = new Command("migrate", "Apply the database migrations of this build (every service's schema) and exit") { service };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, cancellationToken) =>
        {
            var configuration = new ConfigurationBuilder()
                .AddEnvironmentVariables()
                .AddCommandLine([.. parse.UnmatchedTokens])
                .Build();
            var selected = parse.GetValue(service) is { Length: > 0 } chosen ? chosen : Services;
            var reports = new JsonArray();
            try
            {
                foreach (var name in selected)
                {
                    var report = await MigrateAsync(name, configuration, cancellationToken);
                    reports.Add(new JsonObject
                    {
                        ["service"] = name,
                        ["schema"] = report.Schema,
                        ["provider"] = report.Provider,
                        ["adopted"] = report.Adopted,
                        ["applied"] = new JsonArray([.. report.Applied.Select(a => (JsonNode)a)]),
                        ["current"] = report.Current,
                    });
                    if (!parse.GetValue(json))
                    {
                        var what = report.Applied.Count == 0 ? "up to date" : $"applied {string.Join(", ", report.Applied)}";
                        Console.WriteLine($"{name,-17} {report.Provider,-10} {report.Schema,-14} {(report.Adopted ? "adopted the pre-migration tables; " : "")}{what} (at {report.Current})");
                    }
                }
            }
            catch (Exception ex) when (RouteIQHost.FindConfigurationError(ex) is { } message)
            {
                Output.Error(message);
                return ExitCodes.Usage;
            }
            if (parse.GetValue(json))
            {
                Console.WriteLine(new JsonObject { ["items"] = reports }.ToJsonString());
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Task<SchemaReport> MigrateAsync(string service, IConfiguration configuration, CancellationToken cancellationToken) => service switch
    {
        "gateway-admin" => PersistenceExtensions.MigrateAsync<LedgerDbContext>(configuration, LedgerDbContext.Schema, o => new(o), NullLogger.Instance, cancellationToken),
        "rollout" => PersistenceExtensions.MigrateAsync<RegistryDbContext>(configuration, RegistryDbContext.Schema, o => new(o), NullLogger.Instance, cancellationToken),
        _ => PersistenceExtensions.MigrateAsync<TelemetryDbContext>(configuration, TelemetryDbContext.Schema, o => new(o), NullLogger.Instance, cancellationToken),
    };
}
