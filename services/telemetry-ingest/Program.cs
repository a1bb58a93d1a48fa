using RouteIQ.TelemetryIngest;
using RouteIQ.ServiceDefaults;

// Before anything opens a socket (see SocketRuntime).
SocketRuntime.Apply();

return await RouteIQHost.RunAsync(() =>
{
    var builder = WebApplication.CreateBuilder(args);
    builder.UseDefaultUrls("http://127.0.0.1:4318");
    builder.AddServiceDefaults("telemetry-ingest");
    builder.AddTelemetryIngest();
    builder.AddRouteIQBus();

    var app = builder.Build();
    app.MapDefaultEndpoints();
    app.MapTelemetryIngestApi();
    app.MapOpenApi();
    return app;
});
