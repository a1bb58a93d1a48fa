using System.Text;
using System.Text.Json;
using RouteIQ.Artifacts;
using RouteIQ.GatewayAdmin.Api;
using RouteIQ.GatewayAdmin.Ledger;

namespace RouteIQ.GatewayAdmin.Ui;

/// <summary>
/// <c>GET /ui/jobs/{id}/log/stream</c>: the job's log as server-sent events, following like
/// <c>routeiq logs --follow</c>. Each connection starts with <c>reset</c> (the whole log so far), then
/// <c>log</c> events carry what is new and <c>state</c> events the job's state; <c>end</c> closes it.
/// A browser's EventSource reconnects by itself (a gateway-admin restart included) and the
/// <c>reset</c> makes the page whole again.
/// </summary>
public static class LiveLogStream
{
    /// <summary>The ledger is read this often while a job runs (heartbeats bring the log tail).</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    public static async Task StreamAsync(Guid id, HttpContext context, JobLedger ledger, JobWaiters waiters, IArtifactStore store)
    {
        var cancellationToken = context.RequestAborted;
        var job = await ledger.GetAsync(id, cancellationToken);
        if (job is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        try
        {
            var written = JobStates.IsTerminal(job.State) ? await FullLogAsync(job, store, cancellationToken) : job.LogTail ?? "";
            await ServerSentEvents.StartAsync(context);
            await SendAsync(context, "reset", written);
            await SendAsync(context, "state", job.State);
            var state = job.State;
            while (!JobStates.IsTerminal(state))
            {
                var change = waiters.NextChange(id);
                try
                {
                    await Task.WhenAny(change, Task.Delay(PollInterval, cancellationToken));
                }
                finally
                {
                    waiters.Release(id, change);
                }
                cancellationToken.ThrowIfCancellationRequested();
                job = await ledger.GetAsync(id, cancellationToken);
                if (job is null)
                {
                    break;
                }
                var now = JobStates.IsTerminal(job.State) ? await FullLogAsync(job, store, cancellationToken) : job.LogTail ?? "";
                var fresh = AdminEndpoints.NewText(written, now);
                if (fresh.Length > 0)
                {
                    await SendAsync(context, "log", fresh);
                    written = now;
                }
                if (job.State != state)
                {
                    state = job.State;
                    await SendAsync(context, "state", state);
                }
            }
            await SendAsync(context, "end", state);
        }
        catch (OperationCanceledException)
        {
            // The page went away.
        }
    }

    private static async Task<string> FullLogAsync(Job job, IArtifactStore store, CancellationToken cancellationToken)
    {
        if (job.Kind == JobKinds.Train)
        {
            try
            {
                var key = ArtifactKeys.RunLogs(job.Id);
                if (await store.ExistsAsync(key, cancellationToken))
                {
                    await using var stream = await store.OpenReadAsync(key, cancellationToken);
                    using var reader = new StreamReader(stream, Encoding.UTF8);
                    return await reader.ReadToEndAsync(cancellationToken);
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                // Fall back to the tail.
            }
        }
        return job.LogTail ?? LedgerJson.Parse(job.ErrorJson)?["logs_tail"]?.GetValue<string>() ?? "";
    }

    private static Task SendAsync(HttpContext context, string name, string data) => ServerSentEvents.SendAsync(context, name, JsonSerializer.Serialize(data));
}
