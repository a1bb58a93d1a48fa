namespace RouteIQ.Contracts;

/// <summary>
/// Command (historical name kept from the seeds): run one training job. Sent by gateway-admin,
/// consumed by exactly one trainer-runner node with capacity for it.
/// </summary>
public sealed record TrainRequested
{
    public required Guid JobId { get; init; }
    public required string Trainer { get; init; }

    /// <summary>Resolved trainer image (or built-in workload name in process mode).</summary>
    public required string Image { get; init; }

    /// <summary>The image key the caller selected; null when the default image was used.</summary>
    public string? ImageKey { get; init; }

    /// <summary>Serving image resolved at training time (used by a later rollout).</summary>
    public string? ServeImage { get; init; }

    /// <summary>argv overriding the image entrypoint; in process mode the program to run.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>argv of the serving program in process mode.</summary>
    public IReadOnlyList<string>? ServeCommand { get; init; }

    /// <summary>Spec env merged with the request parameters (nulls removed). The runner adds its own variables, which win.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>The applied overrides exactly as passed, null for removed keys.</summary>
    public IReadOnlyDictionary<string, string?> Parameters { get; init; } = new Dictionary<string, string?>();

    /// <summary>GPUs: 0 none, -1 all, n a count.</summary>
    public int Gpus { get; init; }

    public required int TimeoutSeconds { get; init; }
    public required string ModelName { get; init; }
    public string? DatasetUri { get; init; }
    public ResourceLimits? Resources { get; init; }

    /// <summary>Roll the produced version out when training succeeds.</summary>
    public bool RollOnSuccess { get; init; }

    /// <summary>Alias a roll-on-success moves (default <c>production</c>).</summary>
    public string? Alias { get; init; }

    public int WaitReadySeconds { get; init; } = 90;

    /// <summary>Promotion of the produced version when it is rolled on success (trainer spec or request).</summary>
    public Promotion? Promotion { get; init; }

    /// <summary>1 for the first dispatch; incremented when a lost job is re-dispatched.</summary>
    public int Attempt { get; init; } = 1;

    public required DateTimeOffset RequestedAt { get; init; }
}
