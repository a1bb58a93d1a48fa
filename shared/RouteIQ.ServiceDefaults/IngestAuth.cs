using Microsoft.Extensions.Configuration;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// Keys for the telemetry ingest routes (<c>RouteIQ:Telemetry:IngestKeys:N</c>): what gateways and
/// OTel collectors hold instead of an admin key (an OTLP exporter's <c>headers</c> setting sends
/// <c>X-API-Key=…</c> or <c>Authorization=Bearer …</c>). Admin keys are accepted too. Required on
/// every route that requires <see cref="ApiKeyAuthentication.IngestPolicy"/> as soon as any
/// admin or ingest key is configured; compared by <see cref="AdminAuth"/>'s constant-time check.
/// </summary>
public sealed class IngestAuth(IConfiguration configuration)
{
    public const string Section = "RouteIQ:Telemetry:IngestKeys";

    /// <summary>Admin and ingest keys together.</summary>
    public AdminAuth Keys { get; } = AdminAuth.FromKeys(
        configuration.GetSection(AdminAuth.Section).GetChildren().Concat(configuration.GetSection(Section).GetChildren()).Select(c => c.Value));
}
