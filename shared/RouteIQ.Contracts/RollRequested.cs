namespace RouteIQ.Contracts;

/// <summary>Command: roll a registered model version out (or back) behind the stable endpoint.</summary>
public sealed record RollRequested
{
    public required Guid JobId { get; init; }

    /// <summary>Model name; null for a rollback of the default (most recently deployed) model.</summary>
    public string? ModelName { get; init; }

    /// <summary><c>@alias</c> or an integer version as text; null with <see cref="IsRollback"/>.</summary>
    public string? Ref { get; init; }

    public string? ServeImage { get; init; }
    public IReadOnlyList<string>? ServeCommand { get; init; }
    public int WaitReadySeconds { get; init; } = 90;

    /// <summary>Alias moved to the rolled-out version (default <c>production</c>).</summary>
    public string? Alias { get; init; }

    public bool IsRollback { get; init; }

    /// <summary>The training job whose result this rolls out (train_then_roll), if any.</summary>
    public Guid? TrainJobId { get; init; }

    /// <summary>The promotion block for this roll (gate, shadow, canary); null = blue/green switch.</summary>
    public Promotion? Promotion { get; init; }

    public required DateTimeOffset RequestedAt { get; init; }
}
