using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace RouteIQ.Cli;

/// <summary>
/// <c>routeiq roll … --canary 5,25,50,100 --step 60s</c>, <c>routeiq rollouts</c>,
/// <c>routeiq rollouts watch|abort|pause|resume|promote &lt;id&gt;</c>: safe promotion over
/// <c>/admin/rollouts</c>. A rollout's id is its roll job's id.
/// </summary>
public static partial class RouteIQCli
{
    private sealed record CanaryOptions(Option<string?> Steps, Option<string?> Step, Option<int?> MinRequests, Option<string?> Sticky,
        Option<double?> MaxErrorRate, Option<double?> MaxP99Ratio);

    private static CanaryOptions AddCanaryOptions(Command command)
    {
        var options = new CanaryOptions(
            new Option<string?>("--canary") { Description = "Canary steps in percent of traffic, e.g. 5,25,50,100 (default: blue/green switch)" },
            new Option<string?>("--step") { Description = "Time per canary step: 60s, 2m or seconds (default 60s)" },
            new Option<int?>("--min-requests") { Description = "Candidate requests a step needs before it is judged (default 200)" },
            new Option<string?>("--sticky") { Description = "header:NAME (same key → same version within a step) or none" },
            new Option<double?>("--max-error-rate") { Description = "Candidate 5xx + timeouts ÷ its requests that rolls back (default 0.01)" },
            new Option<double?>("--max-p99-ratio") { Description = "Candidate p99 ÷ baseline p99 over a step that rolls back (default 2.0)" });
        foreach (var option in new Option[] { options.Steps, options.Step, options.MinRequests, options.Sticky, options.MaxErrorRate, options.MaxP99Ratio })
        {
            command.Options.Add(option);
        }
        return options;
    }

    /// <summary>The roll's <c>promotion</c> (<c>canary</c>) when <c>--canary</c> was given, else null.</summary>
    private static JsonObject? Promotion(ParseResult parse, CanaryOptions options)
    {
        if (parse.GetValue(options.Steps) is not { } steps)
        {
            if (parse.GetValue(options.Step) is not null || parse.GetValue(options.MinRequests) is not null || parse.GetValue(options.Sticky) is not null
                || parse.GetValue(options.MaxErrorRate) is not null || parse.GetValue(options.MaxP99Ratio) is not null)
            {
                throw new CliUsageException("--step, --min-requests, --sticky, --max-error-rate and --max-p99-ratio need --canary STEPS");
            }
            return null;
        }
        var percents = new JsonArray();
        foreach (var part in steps.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part.TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out var percent) || percent is <= 0 or > 100)
            {
                throw new CliUsageException($"--canary: '{part}' is not a percentage in (0, 100]; e.g. --canary 5,25,50,100");
            }
            percents.Add(percent);
        }
        var canary = new JsonObject { ["steps"] = percents };
        if (parse.GetValue(options.Step) is { } step)
        {
            canary["step_seconds"] = Seconds(step) ?? throw new CliUsageException($"--step: '{step}' is not a duration (60s, 2m, 90)");
        }
        if (parse.GetValue(options.MinRequests) is { } min)
        {
            canary["min_requests"] = min;
        }
        if (parse.GetValue(options.Sticky) is { } sticky)
        {
            canary["sticky"] = sticky;
        }
        if (parse.GetValue(options.MaxErrorRate) is { } errorRate)
        {
            canary["max_error_rate"] = errorRate;
        }
        if (parse.GetValue(options.MaxP99Ratio) is { } ratio)
        {
            canary["max_latency_p99_ratio"] = ratio;
        }
        return new JsonObject { ["canary"] = canary };
    }

    internal static double? Seconds(string text)
    {
        var t = text.Trim();
        var scale = t.EndsWith("ms", StringComparison.Ordinal) ? 0.001 : t.EndsWith('s') ? 1 : t.EndsWith('m') ? 60 : t.EndsWith('h') ? 3600 : 1;
        var number = t.TrimEnd('m', 's', 'h');
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= 0 ? value * scale : null;
    }

    private static Command RolloutsCommand()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Only this model's rollouts" };
        var command = new Command("rollouts", "Safe promotions (gate, shadow, canary), newest first") { model };
        command.SetAction((parse, ct) => GetAsync(parse, "admin/rollouts" + (parse.GetValue(model) is { } m ? "?model=" + Uri.EscapeDataString(m) : ""), ct));

        var watchId = new Argument<string>("id") { Description = "Rollout id (the roll's job id)" };
        var watch = new Command("watch", "Follow a rollout live: state, step, weight and both versions' numbers, until it ends") { watchId };
        watch.SetAction(async (parse, ct) =>
        {
            var id = JobId(parse.GetValue(watchId)!);
            using var client = Client(parse);
            string? last = null;
            while (true)
            {
                var response = await client.SendAsync(HttpMethod.Get, $"admin/rollouts/{id}", cancellationToken: ct);
                if (!response.Ok || parse.GetValue(JsonOption))
                {
                    if (!response.Ok || IsOver(response.Body))
                    {
                        return Report(parse, response, RolloutNotFound(id));
                    }
                }
                else
                {
                    var line = RolloutLine(response.Body!);
                    if (line != last)
                    {
                        Console.WriteLine(line);
                        last = line;
                    }
                    if (IsOver(response.Body))
                    {
                        var state = response.Body?["state"]?.GetValue<string>();
                        return state == "promoted" ? ExitCodes.Ok : ExitCodes.JobFailed;
                    }
                }
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), ct);
                }
                catch (OperationCanceledException)
                {
                    Output.Error($"stopped watching; the rollout goes on (routeiq rollouts abort {id} stops it)");
                    return ExitCodes.StillRunning;
                }
            }
        });
        command.Subcommands.Add(watch);
        foreach (var action in new[] { "abort", "pause", "resume", "promote" })
        {
            var id = new Argument<string>("id") { Description = "Rollout id" };
            var control = new Command(action, action switch
            {
                "abort" => "Abort a rollout: the candidate leaves traffic at once (rollback), production untouched",
                "pause" => "Hold a rollout at its current step (breaches still roll back)",
                "resume" => "Let a paused rollout move on",
                _ => "Skip the remaining steps and switch the candidate in now",
            }) { id };
            control.SetAction(async (parse, ct) =>
            {
                var rid = JobId(parse.GetValue(id)!);
                using var client = Client(parse);
                return Report(parse, await client.SendAsync(HttpMethod.Post, $"admin/rollouts/{rid}/{action}", cancellationToken: ct), RolloutNotFound(rid));
            });
            command.Subcommands.Add(control);
        }
        return command;
    }

    private static string RolloutNotFound(string id) => $"rollout '{id}' not found (`routeiq rollouts` lists them)";

    private static bool IsOver(JsonNode? body) => body?["state"]?.GetValue<string>() is "promoted" or "rolled_back" or "aborted" or "failed";

    internal static string RolloutLine(JsonNode body)
    {
        static string Numbers(JsonNode? v) => v is null ? "-" : string.Create(CultureInfo.InvariantCulture,
            $"v{Output.Text(v["version"])} {Output.Text(v["requests"])} req {Output.Text(v["errors"])} err p50 {Output.Text(v["latency_p50_ms"])} ms p99 {Output.Text(v["latency_p99_ms"])} ms");
        var stats = body["stats"];
        var reason = body["reason"] is JsonValue r ? " · " + r.GetValue<string>() : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"{Output.Text(body["model"])} v{Output.Text(body["from_version"])}→v{Output.Text(body["to_version"])}: {Output.Text(body["state"])} step {Output.Text(body["step"])} at {Output.Text(body["weight"])}%{(body["paused"]?.GetValue<bool>() == true ? " (paused)" : "")} · baseline {Numbers(stats?["baseline"])} · candidate {Numbers(stats?["candidate"])}{reason}");
    }
}
