using RouteIQ.Rollout;
using RouteIQ.ServiceDefaults;

return await RouteIQHost.RunAsync(() =>
{
    var builder = WebApplication.CreateBuilder(args);
    builder.UseDefaultUrls("http://127.0.0.1:8082");
    builder.AddServiceDefaults("rollout");
    builder.AddRollout();
    builder.AddRouteIQBus();

    var app = builder.Build();
    app.MapDefaultEndpoints();
    app.MapRolloutApi();
    return app;
});
