using RouteIQ.ServiceDefaults;

namespace RouteIQ.TrainerRunner;

public static class TrainerRunnerExtensions
{
    public static IHostApplicationBuilder AddTrainerRunner(this IHostApplicationBuilder builder)
    {
        return builder;
    }

    public static IEndpointRouteBuilder MapTrainerRunnerApi(this IEndpointRouteBuilder endpoints)
    {
        return endpoints;
    }
}
