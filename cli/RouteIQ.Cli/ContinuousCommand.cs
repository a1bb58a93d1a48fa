using System.CommandLine;
using System.Text.Json.Nodes;

namespace RouteIQ.Cli;

public static partial class RouteIQCli
{
    /// <summary><c>routeiq continuous</c> (list) and <c>routeiq continuous pause|resume|trigger &lt;trainer&gt;</c>.</summary>
    private static Command ContinuousCommand()
    {
        var command = new Command("continuous", "Continuous-training policies: triggers, counters, drift, last run");
        command.SetAction(async (parse, ct) =>
        {
            using var client = Client(parse);
            var response = await client.SendAsync(HttpMethod.Get, "admin/continuous", cancellationToken: ct);
            var output = Out(parse);
            if (!response.Ok || output.Json || response.Body is not JsonObject body)
            {
                return Report(parse, response);
            }
            var rows = new JsonArray();
            foreach (var (name, policy) in body["trainers"] as JsonObject ?? [])
            {
                var row = (JsonObject)(policy?.DeepClone() ?? new JsonObject());
                row["name"] = name;
                rows.Add(row);
            }
            output.WriteList(rows, ContinuousView);
            return ExitCodes.Ok;
        });
        foreach (var (verb, description) in new[]
        {
            ("pause", "Stop firing this trainer's triggers (holds across restarts and replicas)"),
            ("resume", "Fire this trainer's triggers again"),
            ("trigger", "Run the policy now: build the dataset, train (and roll out with promote: true); prints the job"),
        })
        {
            var trainer = new Argument<string>("trainer") { Description = "Trainer name (a spec with a continuous block)" };
            var sub = new Command(verb, description) { trainer };
            sub.SetAction((parse, ct) => SendAsync(parse, HttpMethod.Post, $"admin/continuous/{Uri.EscapeDataString(parse.GetValue(trainer)!)}/{verb}", null, ct));
            command.Subcommands.Add(sub);
        }
        return command;
    }

    private static string Psi(JsonObject row)
        => row["max_psi"] is JsonValue max ? max.GetValue<double>().ToString("0.000", System.Globalization.CultureInfo.InvariantCulture) : "-";

    private static readonly TableView ContinuousView = new([
        new("TRAINER", r => Output.Text(r["name"]), IsId: true),
        new("STATE", r => r["paused"]?.GetValue<bool>() == true ? "paused" : r["enabled"]?.GetValue<bool>() == true ? "enabled" : "disabled"),
        new("NEXT SCHEDULE", r => Output.Time(r["next_schedule"])),
        new("NEW DECISIONS", r => Output.Text(r["counters"]?["new_decisions"])),
        new("NEW FEEDBACK", r => Output.Text(r["counters"]?["new_feedback"]), WideOnly: true),
        new("MAX PSI", Psi),
        new("PSI", r => Output.Text(r["psi"]), WideOnly: true),
        new("LAST TRIGGER", r => r["last"] is JsonObject last ? $"{Output.Text(last["trigger"])} {Output.ShortTime(last["fired_at"])}" : "-"),
        new("LAST JOB", r => Output.Text(r["last"]?["job_id"]), IsId: true),
        new("JOB STATE", r => Output.Text(r["last"]?["job_state"] ?? r["last"]?["state"])),
    ]);
}
