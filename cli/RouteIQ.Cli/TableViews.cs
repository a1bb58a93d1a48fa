using System.Text.Json;
using System.Text.Json.Nodes;

namespace RouteIQ.Cli;

/// <summary>One column of a list: its header, its text, whether it is an id (never cut) and whether only <c>--wide</c> shows it.</summary>
public sealed record ListColumn(string Header, Func<JsonObject, string> Value, bool IsId = false, bool WideOnly = false);

public sealed record TableView(IReadOnlyList<ListColumn> Columns)
{
    /// <summary>Every scalar field of the rows (nested values only with --wide).</summary>
    public static TableView Generic(IReadOnlyList<JsonObject> rows)
    {
        var names = rows.SelectMany(o => o.Select(p => p.Key)).Distinct().ToList();
        return new TableView(names.Select(n => new ListColumn(
            n.ToUpperInvariant().Replace('_', ' '),
            r => n.EndsWith("_at", StringComparison.Ordinal) ? Output.Time(r[n]) : Output.Text(r[n]),
            IsId: n.EndsWith("id", StringComparison.Ordinal),
            WideOnly: rows.Any(r => r[n] is JsonObject or JsonArray))).ToList());
    }
}

/// <summary>The columns of each list the admin API returns.</summary>
public static class TableViews
{
    private static string S(JsonObject row, string key) => Output.Text(row[key]);

    private static string T(JsonObject row, string key) => Output.Time(row[key]);

    public static TableView? For(string listName) => listName switch
    {
        "jobs" => Jobs,
        "deployments" => Deployments,
        "datasets" => Datasets,
        "rejected" => Rejected,
        _ => null,
    };

    // At 80 columns a job id (36) leaves room for four short columns: what, state, when it
    // finished, and as much of its error as fits (all of it in a pipe, with --wide, or `jobs show`).
    public static readonly TableView Jobs = new([
        new("JOB ID", r => S(r, "job_id"), IsId: true),
        new("JOB", r => S(r, "kind") == "train" ? S(r, "trainer") : $"{S(r, "kind")} {S(r, "model_name")}"),
        new("STATE", r => S(r, "state")),
        new("PHASE", r => S(r, "phase"), WideOnly: true),
        new("CREATED", r => T(r, "created_at"), WideOnly: true),
        new("FINISHED", r => Output.ShortTime(r["finished_at"])),
        new("NODE", r => S(r, "node"), WideOnly: true),
        new("ATTEMPT", r => S(r, "attempt"), WideOnly: true),
        new("ERROR", r => ErrorText(r["error"])),
    ]);

    public static readonly TableView Deployments = new([
        new("DEPLOYMENT ID", r => S(r, "deployment_id"), IsId: true, WideOnly: true),
        new("MODEL", r => S(r, "model_name"), IsId: true),
        new("VERSION", r => S(r, "version")),
        new("ALIAS", r => S(r, "alias")),
        new("ACTIVE", r => S(r, "active")),
        new("ROLLBACK", r => S(r, "is_rollback")),
        new("DEPLOYED", r => T(r, "deployed_at")),
        new("RETIRED", r => T(r, "retired_at")),
        new("SERVE IMAGE", r => S(r, "serve_image"), WideOnly: true),
        new("SERVER", r => S(r, "server_url"), WideOnly: true),
        new("MODEL URI", r => S(r, "model_uri"), WideOnly: true),
    ]);

    public static readonly TableView Datasets = new([
        new("DATASET ID", r => S(r, "dataset_id"), IsId: true),
        new("CREATED", r => T(r, "created_at")),
        new("TRAIN", r => S(r, "train_records")),
        new("TEST", r => S(r, "test_records")),
        new("QUERIES", r => S(r, "unique_queries")),
        new("URI", r => S(r, "uri")),
    ]);

    public static readonly TableView Rejected = new([
        new("ID", r => S(r, "id"), IsId: true),
        new("RECEIVED", r => T(r, "received_at")),
        new("SOURCE", r => S(r, "source")),
        new("REASON", r => S(r, "reason")),
        new("BODY", r => S(r, "raw_body"), WideOnly: true),
    ]);

    public static readonly TableView Trainers = new([
        new("TRAINER", r => S(r, "name"), IsId: true),
        new("IMAGE", r => S(r, "trainer_image")),
        new("SERVE IMAGE", r => S(r, "serve_image")),
        new("TIMEOUT", r => S(r, "timeout")),
        new("GPUS", r => S(r, "gpus")),
        new("MODEL", r => S(r, "model_name")),
        new("DATASET", r => S(r, "dataset"), WideOnly: true),
        new("IMAGE OPTIONS", r => S(r, "image_options"), WideOnly: true),
        new("ENV", r => S(r, "env"), WideOnly: true),
        new("FILE", r => $"{S(r, "file")}:{S(r, "line")}", WideOnly: true),
    ]);

    /// <summary>A job's error as one line: "error: reason" (a timeout reads "timed out after N s").</summary>
    public static string ErrorText(JsonNode? error)
    {
        if (error is not JsonObject e)
        {
            return Output.Text(error);
        }
        var message = e["error"]?.GetValueKind() == JsonValueKind.String ? e["error"]!.GetValue<string>() : "";
        var reason = e["rollout_error"] ?? e["reason"];
        var reasonText = reason is null ? "" : Output.Text(reason);
        if (e["timed_out"]?.GetValueKind() == JsonValueKind.True && reasonText.Length > 0)
        {
            return reasonText;
        }
        return reasonText.Length > 0 && !message.Contains(reasonText, StringComparison.Ordinal) ? $"{message}: {reasonText}" : message;
    }
}
