using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Artifacts;

namespace RouteIQ.TelemetryIngest.Tests;

/// <summary>Small decision and grade events for the feedback tests (the contracts' JSON, written out).</summary>
internal static class FeedbackEvents
{
    public static string Decision(string eventId, long timestampMs, string model, string query, double? selectionProbability = null,
        string? traceId = null, string? spanId = null)
    {
        var custom = new JsonObject { ["query_text"] = query };
        if (selectionProbability is { } p)
        {
            custom["selection_probability"] = p;
        }
        return new JsonObject
        {
            ["contract_name"] = "routeiq.router_decision.v1",
            ["contract_version"] = "v1",
            ["event_id"] = eventId,
            ["trace_id"] = traceId,
            ["span_id"] = spanId,
            ["timestamp_unix_ms"] = timestampMs,
            ["selected_deployment"] = model,
            ["timings"] = new JsonObject { ["total_ms"] = 500.0 },
            ["outcome"] = new JsonObject { ["status"] = "success", ["input_tokens"] = 10, ["output_tokens"] = 20 },
            ["custom_attributes"] = custom,
        }.ToJsonString();
    }

    public static string Grade(string? decisionEventId, double score, string source, string? model = null, string? feedbackId = null,
        string? traceId = null, string? spanId = null, long? timestampMs = null)
        => new JsonObject
        {
            ["contract_name"] = "routeiq.router_feedback.v1",
            ["contract_version"] = "v1",
            ["feedback_id"] = feedbackId ?? Guid.NewGuid().ToString("D"),
            ["decision_event_id"] = decisionEventId,
            ["trace_id"] = traceId,
            ["span_id"] = spanId,
            ["model_name"] = model,
            ["score"] = score,
            ["source"] = source,
            ["judge_model"] = source == "judge" ? "gpt-4o" : null,
            ["rubric"] = null,
            ["timestamp_unix_ms"] = timestampMs ?? new DateTimeOffset(2026, 11, 2, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(),
            ["custom_attributes"] = new JsonObject { ["reviewer"] = "r-1" },
        }.ToJsonString();

    public static string Hex(Random random, int chars)
    {
        var bytes = new byte[chars / 2];
        random.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    public static async Task<JsonElement> PostNdjsonAsync(HttpClient client, string path, IEnumerable<string> lines)
    {
        using var content = new StringContent(string.Join("\n", lines), Encoding.UTF8, "application/x-ndjson");
        using var response = await client.PostAsync(path, content);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path} answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<JsonElement> BuildAsync(TelemetryHost host, object request)
    {
        using var response = await host.Client.PostAsJsonAsync("admin/datasets", request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, $"dataset build answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<byte[]> ReadAsync(TelemetryHost host, string key)
    {
        await using var stream = await host.Services.GetRequiredService<IArtifactStore>().OpenReadAsync(key);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    /// <summary>Every line of a dataset's train and test files.</summary>
    public static async Task<List<JsonElement>> LinesAsync(TelemetryHost host, string datasetId)
    {
        var lines = new List<JsonElement>();
        foreach (var file in new[] { "routing_train.jsonl", "routing_test.jsonl" })
        {
            lines.AddRange(Encoding.UTF8.GetString(await ReadAsync(host, $"datasets/{datasetId}/{file}"))
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement.Clone()));
        }
        return lines;
    }

    public static string Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
}
