using RouteIQ.ServiceDefaults;

namespace RouteIQ.TelemetryIngest;

public static class TelemetryIngestExtensions
{
    public static IHostApplicationBuilder AddTelemetryIngest(this IHostApplicationBuilder builder)
    {
        return builder;
    }

    public static IEndpointRouteBuilder MapTelemetryIngestApi(this IEndpointRouteBuilder endpoints)
    {
        return endpoints;
    }
}
