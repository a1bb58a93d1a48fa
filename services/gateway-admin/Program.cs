using RouteIQ.GatewayAdmin;
using RouteIQ.ServiceDefaults;

return await RouteIQHost.RunAsync(() =>
{
    var builder = WebApplication.CreateBuilder(args);
    builder.UseDefaultUrls("http://127.0.0.1:8080");
    builder.AddServiceDefaults("gateway-admin");
    builder.AddGatewayAdmin();
    builder.AddRouteIQBus();

    var app = builder.Build();
    app.MapDefaultEndpoints();
    app.MapGatewayAdminApi();
    return app;
});
