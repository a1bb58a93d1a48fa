using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using RouteIQ.Testing;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// A small HTTP server on loopback that answers the admin API's routes with documents shaped as
/// the real API's (see services/gateway-admin/Api), for CLI tests that need no full system.
/// Records each request's method, path, query and body.
/// </summary>
public sealed class CannedAdminApi : IAsyncDisposable
{
    private readonly WebApplication _app;

    private CannedAdminApi(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    public string Url { get; }

    public ConcurrentQueue<(string Method, string PathAndQuery, string Body)> Requests { get; } = new();

    public static async Task<CannedAdminApi> StartAsync(Action<IEndpointRouteBuilder> routes)
    {
        var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        CannedAdminApi? api = null;
        app.Use(async (context, next) =>
        {
            context.Request.EnableBuffering();
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
            context.Request.Body.Position = 0;
            api!.Requests.Enqueue((context.Request.Method, context.Request.Path + context.Request.QueryString, body));
            await next(context);
        });
        routes(app);
        api = new CannedAdminApi(app, url);
        await app.StartAsync();
        return api;
    }

    public static IResult Json(JsonNode node, int status = 200) => Results.Text(node.ToJsonString(), "application/json", statusCode: status);

    public static IResult Problem(int status, string error, JsonObject? extra = null)
    {
        var body = extra ?? new JsonObject();
        body["type"] = "about:blank";
        body["title"] = error;
        body["status"] = status;
        body["error"] = error;
        return Results.Text(body.ToJsonString(), "application/problem+json", statusCode: status);
    }

    public static JsonObject Job(Guid id, string state, string kind = "train", JsonObject? error = null, int? statusCode = null, string? phase = null) => new()
    {
        ["job_id"] = id,
        ["kind"] = kind,
        ["trainer"] = kind == "train" ? "knn-router" : null,
        ["model_name"] = "knn-router",
        ["state"] = state,
        ["phase"] = phase,
        ["attempt"] = 1,
        ["created_at"] = "2026-12-01T01:02:03.456+00:00",
        ["started_at"] = "2026-12-01T01:02:04+00:00",
        ["last_heartbeat_at"] = null,
        ["finished_at"] = state is "succeeded" or "failed" or "cancelled" ? "2026-12-01T01:03:05.1+00:00" : null,
        ["node"] = "node-a",
        ["workload"] = "routeiq-train-knn-router-0123456789ab",
        ["result"] = null,
        ["error"] = error,
        ["status_code"] = statusCode,
        ["location"] = $"/admin/jobs/{id}",
        ["logs"] = $"/admin/jobs/{id}/logs",
    };

    /// <summary>A 202 as the API answers <c>Prefer: respond-async</c>.</summary>
    public static IResult Accepted(Guid id, string kind = "train")
    {
        var summary = new JsonObject { ["job_id"] = id, ["kind"] = kind, ["trainer"] = "knn-router", ["model_name"] = "knn-router", ["state"] = "queued", ["location"] = $"/admin/jobs/{id}" };
        return new AcceptedResult($"/admin/jobs/{id}", summary);
    }

    private sealed class AcceptedResult(string location, JsonObject body) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.Location = location;
            return Json(body, 202).ExecuteAsync(httpContext);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
