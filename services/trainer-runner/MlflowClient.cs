using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RouteIQ.TrainerRunner;

/// <summary>
/// The few calls of MLflow's published REST API (2.0) the runner makes: find or create the
/// experiment, pre-create a run with its tags, mark it finished, and find the model version the
/// run registered. Written against the API documentation; no MLflow server was available here.
/// </summary>
public sealed class MlflowClient(HttpClient http)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public Uri? BaseAddress => http.BaseAddress;

    /// <summary>The experiment's id, creating it when it does not exist.</summary>
    public async Task<string> GetOrCreateExperimentAsync(string name, CancellationToken cancellationToken)
    {
        using var get = await http.GetAsync(
            $"api/2.0/mlflow/experiments/get-by-name?experiment_name={Uri.EscapeDataString(name)}", cancellationToken).ConfigureAwait(false);
        if (get.IsSuccessStatusCode)
        {
            var found = await get.Content.ReadFromJsonAsync<ExperimentResponse>(Json, cancellationToken).ConfigureAwait(false);
            return found?.Experiment?.ExperimentId ?? throw new MlflowException("experiments/get-by-name answered without an experiment_id");
        }
        if (get.StatusCode != HttpStatusCode.NotFound)
        {
            throw await FailureAsync("experiments/get-by-name", get, cancellationToken).ConfigureAwait(false);
        }
        using var create = await http.PostAsJsonAsync("api/2.0/mlflow/experiments/create", new { name }, Json, cancellationToken).ConfigureAwait(false);
        if (!create.IsSuccessStatusCode)
        {
            throw await FailureAsync("experiments/create", create, cancellationToken).ConfigureAwait(false);
        }
        var created = await create.Content.ReadFromJsonAsync<CreateExperimentResponse>(Json, cancellationToken).ConfigureAwait(false);
        return created?.ExperimentId ?? throw new MlflowException("experiments/create answered without an experiment_id");
    }

    public async Task<string> CreateRunAsync(string experimentId, string runName, IReadOnlyDictionary<string, string> tags,
        DateTimeOffset startTime, CancellationToken cancellationToken)
    {
        var body = new
        {
            experiment_id = experimentId,
            run_name = runName,
            start_time = startTime.ToUnixTimeMilliseconds(),
            tags = tags.Select(t => new { key = t.Key, value = t.Value }).ToList(),
        };
        using var response = await http.PostAsJsonAsync("api/2.0/mlflow/runs/create", body, Json, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await FailureAsync("runs/create", response, cancellationToken).ConfigureAwait(false);
        }
        var run = await response.Content.ReadFromJsonAsync<RunResponse>(Json, cancellationToken).ConfigureAwait(false);
        return run?.Run?.Info?.RunId ?? throw new MlflowException("runs/create answered without run.info.run_id");
    }

    /// <summary>Sets the run's final status (<c>FINISHED</c>, <c>FAILED</c>, <c>KILLED</c>).</summary>
    public async Task EndRunAsync(string runId, string status, DateTimeOffset endTime, CancellationToken cancellationToken)
    {
        var body = new { run_id = runId, status, end_time = endTime.ToUnixTimeMilliseconds() };
        using var response = await http.PostAsJsonAsync("api/2.0/mlflow/runs/update", body, Json, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await FailureAsync("runs/update", response, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The highest version of <paramref name="model"/> registered by <paramref name="runId"/>, or null.</summary>
    public async Task<string?> FindModelVersionAsync(string model, string runId, CancellationToken cancellationToken)
    {
        var filter = $"name = '{model.Replace("'", "\\'", StringComparison.Ordinal)}' and run_id = '{runId}'";
        using var response = await http.GetAsync(
            $"api/2.0/mlflow/model-versions/search?filter={Uri.EscapeDataString(filter)}", cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await FailureAsync("model-versions/search", response, cancellationToken).ConfigureAwait(false);
        }
        var found = await response.Content.ReadFromJsonAsync<ModelVersionsResponse>(Json, cancellationToken).ConfigureAwait(false);
        return found?.ModelVersions?
            .Where(v => v.RunId == runId && v.Version is not null)
            .OrderByDescending(v => long.TryParse(v.Version, out var n) ? n : 0)
            .Select(v => v.Version)
            .FirstOrDefault();
    }

    private static async Task<MlflowException> FailureAsync(string call, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return new MlflowException($"MLflow {call} answered {(int)response.StatusCode}: {body[..Math.Min(body.Length, 300)]}");
    }

    private sealed record ExperimentResponse(ExperimentInfo? Experiment);
    private sealed record ExperimentInfo(string? ExperimentId);
    private sealed record CreateExperimentResponse(string? ExperimentId);
    private sealed record RunResponse(RunBody? Run);
    private sealed record RunBody(RunInfo? Info);
    private sealed record RunInfo(string? RunId);
    private sealed record ModelVersionsResponse(IReadOnlyList<ModelVersion>? ModelVersions);
    private sealed record ModelVersion(string? Name, string? Version, string? RunId);
}

public sealed class MlflowException(string message) : Exception(message);
