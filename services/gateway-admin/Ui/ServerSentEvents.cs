namespace RouteIQ.GatewayAdmin.Ui;

/// <summary>The dashboard's server-sent event streams (live log, live rollout): headers and one event at a time, flushed.</summary>
public static class ServerSentEvents
{
    /// <summary>Sets the stream's headers and tells the browser to reconnect after a second.</summary>
    public static Task StartAsync(HttpContext context)
    {
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        return WriteAsync(context, "retry: 1000\n\n");
    }

    /// <summary>One event whose data is a JSON text (one line).</summary>
    public static Task SendAsync(HttpContext context, string name, string json) => WriteAsync(context, $"event: {name}\ndata: {json}\n\n");

    private static async Task WriteAsync(HttpContext context, string text)
    {
        await context.Response.WriteAsync(text, context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }
}
