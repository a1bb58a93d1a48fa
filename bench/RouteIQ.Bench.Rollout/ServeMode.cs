using System.Globalization;

namespace RouteIQ.Bench.Rollout;

/// <summary>
/// <c>serve</c>: a fast serving workload (Kestrel) for the benchmark's rollouts, honouring the
/// serving contract: <c>SERVE_PORT</c>, <c>GET /ping</c>, <c>POST /invocations</c> answering the
/// version rollout passed in <c>ROUTEIQ_MODEL_VERSION</c>.
/// </summary>
public static class ServeMode
{
    /// <param name="failShare">Share of invocations answered 500 (<c>serve --fail 0.3</c>: a failing canary).</param>
    public static async Task<int> RunAsync(double failShare = 0)
    {
        var port = int.Parse(Environment.GetEnvironmentVariable("SERVE_PORT") ?? "0", CultureInfo.InvariantCulture);
        var version = Environment.GetEnvironmentVariable("ROUTEIQ_MODEL_VERSION") ?? "0";
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port));
        builder.Services.AddRoutingCore();
        var app = builder.Build();
        app.UseRouting();
        var body = System.Text.Encoding.UTF8.GetBytes($"{{\"version\":{version}}}");
        app.MapGet("/ping", () => Results.Ok());
        app.MapPost("/invocations", async (HttpContext context) =>
        {
            // Drain the request body, as a real model server would.
            await context.Request.Body.CopyToAsync(Stream.Null);
            if (failShare > 0 && Random.Shared.NextDouble() < failShare)
            {
                context.Response.StatusCode = 500;
                return;
            }
            context.Response.ContentType = "application/json";
            // As the product's router server (Results.Text) and most model servers do: a declared
            // length, not a chunked body with its terminating chunk sent separately.
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        });
        await app.RunAsync();
        return 0;
    }
}
