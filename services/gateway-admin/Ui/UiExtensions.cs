using System.Reflection;
using Microsoft.AspNetCore.DataProtection;
using MudBlazor.Services;
using RouteIQ.GatewayAdmin.Ui.Components;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Ui;

/// <summary>
/// The dashboard at <c>/ui</c>: Blazor static server rendering (streamed), MudBlazor and QuickGrid,
/// a server-sent-events log stream, and a session cookie for admin keys (<see cref="UiSessions"/>).
/// Data comes from the ledger and the admin API's own endpoints, called in-process (<see cref="InProcessApi"/>).
/// </summary>
public static class UiExtensions
{
    public const string Prefix = "/ui";

    public static IHostApplicationBuilder AddGatewayAdminUi(this IHostApplicationBuilder builder)
    {
        builder.Services.AddRazorComponents();
        builder.Services.AddMudServices();
        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "routeiq_ui_csrf";
            o.Cookie.Path = Prefix;
            o.Cookie.SameSite = SameSiteMode.Strict;
        });
        // Sessions and antiforgery tokens survive a restart: the key ring lives in the data dir.
        var dataDir = builder.Configuration["RouteIQ:DataDir"] ?? "./.routeiq";
        builder.Services.AddDataProtection()
            .SetApplicationName("routeiq-gateway-admin")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.GetFullPath(Path.Combine(dataDir, "ui-keys"))));
        builder.Services.AddSingleton<UiSessions>();
        builder.Services.AddSingleton<InProcessApi>();
        builder.Services.AddScoped<UiData>();
        if (builder is WebApplicationBuilder web)
        {
            // The packages' static web assets (MudBlazor's CSS, blazor.web.js) from the build output's
            // manifest when there is one; a published app has them under wwwroot.
            web.WebHost.UseStaticWebAssets();
        }
        return builder;
    }

    public static IEndpointRouteBuilder MapGatewayAdminUi(this IEndpointRouteBuilder endpoints)
    {
        if (endpoints is IApplicationBuilder app)
        {
            // The web root's provider given explicitly: an app without a wwwroot folder (embedded mode,
            // a build output) then serves the packages' assets without a "WebRootPath not found" warning.
            app.UseStaticFiles(new StaticFileOptions { FileProvider = app.ApplicationServices.GetRequiredService<IWebHostEnvironment>().WebRootFileProvider });
            app.Use(UiSessions.GateAsync);
            app.UseAntiforgery();
        }
        endpoints.MapRazorComponents<App>();
        endpoints.MapGet($"{Prefix}/jobs/{{id:guid}}/log/stream", LiveLogStream.StreamAsync).ExcludeFromDescription();
        endpoints.MapGet($"{Prefix}/rollouts/{{id:guid}}/stream", RolloutStream.StreamAsync).ExcludeFromDescription();
        endpoints.MapGet($"{Prefix}/assets/{{file}}", ServeAsset).ExcludeFromDescription();
        return endpoints;
    }

    private static readonly Dictionary<string, string> AssetTypes = new(StringComparer.Ordinal)
    {
        ["ui.js"] = "text/javascript; charset=utf-8",
        ["ui.css"] = "text/css; charset=utf-8",
    };

    private static IResult ServeAsset(string file)
    {
        if (!AssetTypes.TryGetValue(file, out var type)
            || Assembly.GetExecutingAssembly().GetManifestResourceStream($"RouteIQ.GatewayAdmin.Ui.{file}") is not { } stream)
        {
            return Results.NotFound();
        }
        return Results.Stream(stream, type);
    }
}
