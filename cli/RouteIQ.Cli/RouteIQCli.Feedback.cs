using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace RouteIQ.Cli;

public static partial class RouteIQCli
{
    private static readonly string[] FeedbackSourceNames = ["user", "judge", "task", "heuristic", "benchmark"];

    /// <summary>
    /// <c>routeiq feedback &lt;decision_event_id&gt; &lt;score&gt; --source user</c>: one grade
    /// (<c>routeiq.router_feedback.v1</c>) sent to <c>POST /v1/feedback</c>; its feedback_id is printed
    /// (re-sending the same id is a duplicate, dropped).
    /// </summary>
    private static Command FeedbackCommand()
    {
        var decision = new Argument<string>("decision_event_id") { Description = "event_id of the graded routing decision" };
        var score = new Argument<double>("score") { Description = "The grade, a number in [0, 1]" };
        var source = new Option<string>("--source") { Description = "Who graded: user, judge, task, heuristic, benchmark", DefaultValueFactory = _ => "user" };
        source.AcceptOnlyFromAmong(FeedbackSourceNames);
        var model = new Option<string?>("--model") { Description = "The model whose answer was graded (default: the decision's selected model)" };
        var judgeModel = new Option<string?>("--judge-model") { Description = "The judge's model, for source judge" };
        var rubric = new Option<string?>("--rubric") { Description = "Rubric or check name" };
        var id = new Option<string?>("--id") { Description = "feedback_id (a UUID; default: a new one). Re-sending an id is a duplicate, dropped" };
        var command = new Command("feedback", "Send one grade of a routing decision (routeiq.router_feedback.v1)") { decision, score, source, model, judgeModel, rubric, id };
        command.SetAction(async (parse, ct) =>
        {
            var value = parse.GetValue(score);
            if (!double.IsFinite(value) || value is < 0 or > 1)
            {
                Output.Error($"score: must be a number in [0, 1] (got {value.ToString(CultureInfo.InvariantCulture)})");
                return ExitCodes.Usage;
            }
            var feedbackId = parse.GetValue(id) ?? Guid.NewGuid().ToString("D");
            if (!Guid.TryParse(feedbackId, out _))
            {
                Output.Error($"--id: expected a UUID, got '{feedbackId}'");
                return ExitCodes.Usage;
            }
            var grade = new JsonObject
            {
                ["contract_name"] = "routeiq.router_feedback.v1",
                ["contract_version"] = "v1",
                ["feedback_id"] = feedbackId,
                ["decision_event_id"] = parse.GetValue(decision),
                ["model_name"] = parse.GetValue(model),
                ["score"] = value,
                ["source"] = parse.GetValue(source),
                ["judge_model"] = parse.GetValue(judgeModel),
                ["rubric"] = parse.GetValue(rubric),
                ["timestamp_unix_ms"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            };
            using var client = Client(parse);
            var response = await client.SendAsync(HttpMethod.Post, "v1/feedback", new JsonArray(grade), cancellationToken: ct);
            if (!response.Ok)
            {
                return Report(parse, response);
            }
            var body = response.Body as JsonObject ?? [];
            body["feedback_id"] = feedbackId;
            if (body["rejections"] is JsonArray { Count: > 0 } rejections)
            {
                Output.Error($"grade rejected: {Output.Text(rejections[0]?["reason"])}");
                Out(parse).Write(body);
                return ExitCodes.Rejected;
            }
            Out(parse).Write(body);
            return ExitCodes.Ok;
        });
        return command;
    }
}
