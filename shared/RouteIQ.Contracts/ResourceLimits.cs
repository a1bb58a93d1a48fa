namespace RouteIQ.Contracts;

/// <summary>Optional workload limits from a trainer spec's <c>resources</c> key.</summary>
public sealed record ResourceLimits
{
    /// <summary>Memory limit in bytes (spec: <c>memory: "8g"</c>).</summary>
    public long? MemoryBytes { get; init; }

    /// <summary>CPU limit in cores (spec: <c>cpus: 2</c>).</summary>
    public double? Cpus { get; init; }
}
