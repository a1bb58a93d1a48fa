namespace RouteIQ.Workloads;

/// <summary>Labels every RouteIQ workload carries (Docker labels; process state records).</summary>
public static class WorkloadLabels
{
    public const string Prefix = "routeiq.";
    public const string JobId = "routeiq.job-id";
    public const string Trainer = "routeiq.trainer";
    public const string Node = "routeiq.node";

    /// <summary>The variable a workload reads to find its output directory.</summary>
    public const string OutputDirVariable = "ROUTEIQ_OUTPUT_DIR";

    /// <summary>Where the output directory is mounted inside a container.</summary>
    public const string ContainerOutputDir = "/output";
}
