using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace RouteIQ.Cli;

/// <summary>
/// <c>routeiq evaluate &lt;model&gt; &lt;ref&gt; --dataset &lt;id&gt; [--split test]</c>: off-policy evaluation of a
/// registered router on a dataset's logged decisions (<c>POST /admin/evaluations</c>), printed as
/// IPS / SNIPS / DR with 95 % intervals beside the logging policy's own mean; <c>--list</c> shows
/// the evaluations stored with the version.
/// </summary>
public static class EvaluateCommand
{
    public static Command Build(Func<ParseResult, AdminClient> client, Func<ParseResult, ApiResponse, int> report, Option<bool> json)
    {
        var model = new Argument<string>("model") { Description = "Registered model name" };
        var reference = new Argument<string>("ref") { Description = "@alias or an integer version" };
        var dataset = new Option<string?>("--dataset", "-d") { Description = "Dataset id (what `routeiq dataset build` printed)" };
        var split = new Option<string>("--split") { Description = "test (default) or train", DefaultValueFactory = _ => "test" };
        var list = new Option<bool>("--list") { Description = "List the evaluations stored with the version instead" };
        var command = new Command("evaluate", "Off-policy evaluation (IPS, SNIPS, DR) of a registered router on logged decisions") { model, reference, dataset, split, list };
        command.SetAction(async (parse, ct) =>
        {
            var refText = parse.GetValue(reference)!;
            using var admin = client(parse);
            if (parse.GetValue(list))
            {
                return report(parse, await admin.SendAsync(HttpMethod.Get,
                    $"admin/evaluations?model={Uri.EscapeDataString(parse.GetValue(model)!)}&version={Uri.EscapeDataString(refText)}", cancellationToken: ct));
            }
            if (parse.GetValue(dataset) is not { } id)
            {
                throw new CliUsageException("evaluate needs --dataset <id> (or --list)");
            }
            var body = new EvaluationRequest { Model = parse.GetValue(model)!, Version = refText, Dataset = id, Split = parse.GetValue(split) };
            var response = await admin.SendAsync(HttpMethod.Post, "admin/evaluations", body, cancellationToken: ct);
            if (!response.Ok || parse.GetValue(json) || response.Body is not JsonObject result)
            {
                return report(parse, response);
            }
            Console.WriteLine(Summary(result));
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The estimates as a small table.</summary>
    public static string Summary(JsonObject r)
    {
        var lines = new List<string>
        {
            $"{Output.Text(r["model"])} v{Output.Text(r["version"])} on {Output.Text(r["dataset"])}/{Output.Text(r["split"])}: " +
            $"{Output.Text(r["n"])} logged decisions, {Output.Text(r["matched"])} where the router agrees with the log, {Output.Text(r["graded"])} graded",
            $"{"estimator",-10} {"value",8}  95 % interval",
        };
        foreach (var name in new[] { "ips", "snips", "dr" })
        {
            var e = r[name];
            lines.Add($"{name,-10} {Number(e?["value"]),8}  [{Number(e?["ci_low"])}, {Number(e?["ci_high"])}]");
        }
        lines.Add($"{"logged",-10} {Number(r["logging_policy_mean"]),8}  (the logging policy's own mean label)");
        return string.Join(Environment.NewLine, lines);
    }

    private static string Number(JsonNode? n) => n is JsonValue v && v.TryGetValue<double>(out var d) ? d.ToString("F4", CultureInfo.InvariantCulture) : "-";
}
