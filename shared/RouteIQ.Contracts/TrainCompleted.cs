namespace RouteIQ.Contracts;

/// <summary>Event: the trainer exited 0 and produced a model; its output is in the artifact store.</summary>
public sealed record TrainCompleted
{
    public required Guid JobId { get; init; }
    public required string Trainer { get; init; }
    public required string Node { get; init; }
    public required string WorkloadName { get; init; }
    public int Attempt { get; init; } = 1;
    public required string ModelName { get; init; }

    /// <summary>Folder of what the trainer wrote: <c>{store}/runs/{job}/output/</c>.</summary>
    public required string OutputUri { get; init; }

    public string? LogsUri { get; init; }
    public IReadOnlyList<ArtifactFile> Files { get; init; } = [];
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>MLflow run id, when MLflow is configured.</summary>
    public string? RunId { get; init; }

    /// <summary>The MLflow model version that run registered (<c>name = model and run_id = run</c>), when there is one.</summary>
    public string? MlflowModelVersion { get; init; }

    public string? ImageKey { get; init; }
    public string? ServeImage { get; init; }
    public IReadOnlyList<string>? ServeCommand { get; init; }
    public bool RollOnSuccess { get; init; }
    public string? Alias { get; init; }
    public int WaitReadySeconds { get; init; } = 90;

    /// <summary>Promotion of the produced version when it is rolled on success (trainer spec or request).</summary>
    public Promotion? Promotion { get; init; }
    public double DurationSeconds { get; init; }
    public required DateTimeOffset CompletedAt { get; init; }
}
