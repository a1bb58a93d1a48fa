using System.Globalization;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using RouteIQ.Rollout.Edge;

// The stable endpoint as a process of its own (rollout starts it; see EdgeProtocol):
//   RouteIQ.Rollout.Edge --url http://127.0.0.1:9000 [--max-body BYTES] [--grace SECONDS]
// Route tables arrive as JSON lines on stdin; events leave as JSON lines on stdout; logs go to stderr.
string Arg(string name, string fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

var url = new Uri(Arg("--url", "http://127.0.0.1:9000"));
var maxBody = long.Parse(Arg("--max-body", (16L * 1024 * 1024).ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
var grace = TimeSpan.FromSeconds(double.Parse(Arg("--grace", "10"), CultureInfo.InvariantCulture));

using var loggerFactory = LoggerFactory.Create(logging => logging
    .SetMinimumLevel(LogLevel.Information)
    .AddFilter("Microsoft", LogLevel.Warning)
    .AddFilter("Yarp", LogLevel.Warning)
    // Any enabled level here makes ASP.NET Core hosting create an Activity and a log scope for every
    // request; the edge logs nothing per request, so this category is off.
    .AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None)
    .AddSimpleConsole(o => o.SingleLine = true)
    .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
var logger = loggerFactory.CreateLogger("RouteIQ.Rollout.Edge");

// stdout is the protocol: one writer, fed through a channel so a request thread never waits on the pipe.
var events = Channel.CreateUnbounded<EdgeEvent>(new UnboundedChannelOptions { SingleReader = true });
var stdout = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false };
var writer = Task.Run(async () =>
{
    while (await events.Reader.WaitToReadAsync())
    {
        while (events.Reader.TryRead(out var e))
        {
            await stdout.WriteLineAsync(EdgeProtocol.Serialize(e));
        }
        await stdout.FlushAsync();
    }
});

using var stop = new CancellationTokenSource();
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });

var routes = new StableRoutes();
await using var server = new StableEndpointServer(routes, url, maxBody, loggerFactory,
    route => events.Writer.TryWrite(new EdgeEvent { Forwarded = new ForwardedEvent(route.Model, route.Version, route.ServerUrl, route.FirstForwardedTimestamp) }));
try
{
    await server.StartAsync(stop.Token);
}
catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
{
    await Console.Out.WriteLineAsync(EdgeProtocol.Serialize(new EdgeEvent { Error = $"cannot listen on {url}: {ex.Message}" }));
    await Console.Out.FlushAsync();
    return EdgeProtocol.StartFailedExitCode;
}
events.Writer.TryWrite(new EdgeEvent { Ready = url.ToString() });

// While a traffic split is in effect, its numbers go to rollout a few times a second (rollout judges the step).
var reporter = Task.Run(async () =>
{
    using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(200));
    try
    {
        while (await timer.WaitForNextTickAsync(stop.Token))
        {
            foreach (var route in routes.Snapshot().Routes)
            {
                if (route.Split is { } split)
                {
                    events.Writer.TryWrite(new EdgeEvent { Stats = split.Report(route.Model, route.Version) });
                }
            }
        }
    }
    catch (OperationCanceledException)
    {
    }
});

// Route tables until stdin closes (rollout stopped or died) or a signal asks us to stop.
using var stdin = new StreamReader(Console.OpenStandardInput());
try
{
    while (await stdin.ReadLineAsync(stop.Token) is { } line)
    {
        if (line.Length == 0)
        {
            continue;
        }
        RouteTableMessage? table;
        try
        {
            table = EdgeProtocol.ReadTable(line);
        }
        catch (System.Text.Json.JsonException ex)
        {
            logger.LogError("Ignoring a route table that is not valid JSON: {Error}", ex.Message);
            continue;
        }
        if (table is null)
        {
            continue;
        }
        routes.Replace(table.Routes.Select(EdgeProtocol.ToRoute), table.Default);
        events.Writer.TryWrite(new EdgeEvent { Ack = table.Seq });
    }
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
}

// Stop taking connections; requests in flight finish within the grace period.
using (var graceTimeout = new CancellationTokenSource(grace))
{
    await server.StopAsync(graceTimeout.Token);
}
await stop.CancelAsync();
await reporter;
events.Writer.TryComplete();
await writer;
return 0;
