using RouteIQ.ServiceDefaults;

namespace RouteIQ.Rollout;

public static class RolloutExtensions
{
    public static IHostApplicationBuilder AddRollout(this IHostApplicationBuilder builder)
    {
        return builder;
    }

    public static IEndpointRouteBuilder MapRolloutApi(this IEndpointRouteBuilder endpoints)
    {
        return endpoints;
    }
}
