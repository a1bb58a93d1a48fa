using System.Text;
using System.Text.Json.Nodes;

namespace RouteIQ.Cli;

/// <summary>The demo's judge: grades 30 % of the decisions after they were stored, through a real input (<c>POST /v1/feedback</c>).</summary>
public static class DemoJudge
{
    public const double Share = 0.3;

    /// <returns>Grades stored.</returns>
    public static async Task<long> GradeAsync(AdminClient client, DemoWorld world, CancellationToken ct)
    {
        long stored = 0;
        foreach (var chunk in world.JudgeGrades(Share, DateTimeOffset.UtcNow).Chunk(2000))
        {
            using var content = new StringContent(string.Join('\n', chunk), Encoding.UTF8, "application/x-ndjson");
            using var response = await client.Http.PostAsync("v1/feedback", content, ct);
            var report = JsonNode.Parse(await response.Content.ReadAsStringAsync(ct));
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"feedback ingest answered {(int)response.StatusCode}: {report?.ToJsonString()}");
            }
            stored += report?["feedback_stored"]?.GetValue<long>() ?? 0;
        }
        return stored;
    }
}
