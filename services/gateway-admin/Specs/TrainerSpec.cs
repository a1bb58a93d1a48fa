using RouteIQ.Contracts;

namespace RouteIQ.GatewayAdmin.Specs;

/// <summary>One trainer of a spec file, as loaded and validated.</summary>
public sealed record TrainerSpec
{
    public required string Name { get; init; }

    /// <summary>The file it came from and the line of its key, for error messages and <c>GET /admin/trainers</c>.</summary>
    public required string SourceFile { get; init; }
    public int Line { get; init; }

    public string? TrainerImage { get; init; }
    public IReadOnlyDictionary<string, string> ImageOptions { get; init; } = new Dictionary<string, string>();
    public string? ServeImage { get; init; }
    public IReadOnlyDictionary<string, string> ServeImageOptions { get; init; } = new Dictionary<string, string>();
    public int? TimeoutSeconds { get; init; }

    /// <summary>0 none, -1 all, n a count.</summary>
    public int Gpus { get; init; }

    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();
    public string? ModelName { get; init; }
    public IReadOnlyList<string>? Command { get; init; }
    public IReadOnlyList<string>? ServeCommand { get; init; }
    public string? Dataset { get; init; }
    public bool AutoRoll { get; init; }
    public ResourceLimits? Resources { get; init; }

    /// <summary>How a version of this trainer is promoted (gate, shadow, canary); null = blue/green switch.</summary>
    public Promotion? Promotion { get; init; }

    /// <summary>The <c>continuous</c> block (continuous training), if any.</summary>
    public Continuous.ContinuousSpec? Continuous { get; init; }
}

/// <summary>Why one spec file was not (or not entirely) loaded: file, line, column, reason.</summary>
public sealed record SpecLoadError(string File, int Line, int Column, string Reason)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Reason}";
}
