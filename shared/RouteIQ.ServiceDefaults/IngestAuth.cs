using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// Keys for the telemetry ingest routes (<c>RouteIQ:Telemetry:IngestKeys:N</c>): what gateways and
/// OTel collectors hold instead of an admin key (an OTLP exporter's <c>headers</c> setting sends
/// <c>X-API-Key=…</c> or <c>Authorization=Bearer …</c>). Admin keys are accepted too. Required on
/// every route marked <see cref="IngestRouteExtensions.RequireIngestKey{TBuilder}"/> as soon as any
/// admin or ingest key is configured; compared by <see cref="AdminAuth"/>'s constant-time check.
/// </summary>
public sealed class IngestAuth(IConfiguration configuration)
{
    public const string Section = "RouteIQ:Telemetry:IngestKeys";

    /// <summary>Admin and ingest keys together.</summary>
    public AdminAuth Keys { get; } = AdminAuth.FromKeys(
        configuration.GetSection(AdminAuth.Section).GetChildren().Concat(configuration.GetSection(Section).GetChildren()).Select(c => c.Value));
}

/// <summary>Endpoint metadata: this route takes ingest keys (see <see cref="IngestAuth"/>).</summary>
public sealed class IngestRouteMetadata
{
    public static readonly IngestRouteMetadata Instance = new();

    private IngestRouteMetadata()
    {
    }
}

public static class IngestRouteExtensions
{
    /// <summary>Marks an ingest route: ingest or admin key required whenever any key is configured.</summary>
    public static TBuilder RequireIngestKey<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder
        => builder.WithMetadata(IngestRouteMetadata.Instance);
}
