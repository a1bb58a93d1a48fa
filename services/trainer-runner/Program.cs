using RouteIQ.TrainerRunner;
using RouteIQ.ServiceDefaults;

return await RouteIQHost.RunAsync(() =>
{
    var builder = WebApplication.CreateBuilder(args);
    builder.UseDefaultUrls("http://127.0.0.1:8083");
    builder.AddServiceDefaults("trainer-runner");
    builder.AddTrainerRunner();
    builder.AddRouteIQBus();

    var app = builder.Build();
    app.MapDefaultEndpoints();
    app.MapTrainerRunnerApi();
    return app;
});
