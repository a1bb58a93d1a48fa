using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin;

public static class GatewayAdminExtensions
{
    public static IHostApplicationBuilder AddGatewayAdmin(this IHostApplicationBuilder builder)
    {
        return builder;
    }

    public static IEndpointRouteBuilder MapGatewayAdminApi(this IEndpointRouteBuilder endpoints)
    {
        return endpoints;
    }
}
