using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using RouteIQ.GatewayAdmin.Ui.Components.Shared;

namespace RouteIQ.GatewayAdmin.Ui;

/// <summary>
/// <c>GET /ui/rollouts/{id}/stream</c>: a rollout's live part as server-sent events. The document of
/// <c>GET /admin/rollouts/{id}</c> is read every <see cref="PollInterval"/>; each change is rendered by the
/// same component the page renders (<see cref="RolloutLive"/>) and sent as an <c>html</c> event, with a
/// <c>state</c> event (<c>{state, paused, terminal}</c>) for the page's buttons. A final state sends
/// <c>end</c>. An EventSource reconnects by itself (a gateway-admin restart included), and each
/// connection starts with the whole live part.
/// </summary>
public static class RolloutStream
{
    /// <summary>Rollout saves a window's numbers about once a second; this is fast enough to show each save.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    public static async Task StreamAsync(Guid id, HttpContext context, UiData data, ILoggerFactory loggers, TimeProvider time)
    {
        var cancellationToken = context.RequestAborted;
        var first = await data.RolloutAsync(id, cancellationToken);
        if (first.Status == StatusCodes.Status404NotFound)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        await using var renderer = new HtmlRenderer(context.RequestServices, loggers);
        try
        {
            await ServerSentEvents.StartAsync(context);
            string? sent = null;
            var answer = first;
            while (true)
            {
                if (answer.Ok && answer.Body is JsonObject doc)
                {
                    var view = RolloutView.Parse(doc);
                    var version = doc.ToJsonString();
                    if (version != sent)
                    {
                        var html = await renderer.Dispatcher.InvokeAsync(async () =>
                        {
                            var output = await renderer.RenderComponentAsync<RolloutLive>(ParameterView.FromDictionary(new Dictionary<string, object?>
                            {
                                [nameof(RolloutLive.View)] = view,
                                [nameof(RolloutLive.Now)] = time.GetUtcNow(),
                            }));
                            return output.ToHtmlString();
                        });
                        await SendAsync(context, "html", JsonSerializer.Serialize(html));
                        await SendAsync(context, "state", new JsonObject { ["state"] = view.State, ["paused"] = view.Paused, ["terminal"] = !view.InFlight }.ToJsonString());
                        sent = version;
                    }
                    if (!view.InFlight)
                    {
                        await SendAsync(context, "end", JsonSerializer.Serialize(view.State));
                        return;
                    }
                }
                else if (answer.Status == StatusCodes.Status404NotFound)
                {
                    await SendAsync(context, "end", JsonSerializer.Serialize("not found"));
                    return;
                }
                else
                {
                    await SendAsync(context, "unavailable", JsonSerializer.Serialize(answer.Message));
                }
                await Task.Delay(PollInterval, time, cancellationToken);
                answer = await data.RolloutAsync(id, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            // The page went away.
        }
    }

    private static Task SendAsync(HttpContext context, string name, string json) => ServerSentEvents.SendAsync(context, name, json);
}
