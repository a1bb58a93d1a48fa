namespace RouteIQ.Workloads;

/// <summary>Section <c>RouteIQ:Workloads</c>: which launcher runs workloads and how.</summary>
public sealed class WorkloadsOptions
{
    public const string Section = "RouteIQ:Workloads";
    public const string DockerLauncher = "Docker";
    public const string ProcessLauncher = "Process";

    /// <summary><c>Docker</c> or <c>Process</c>; empty = Docker when a Docker socket answers, else Process.</summary>
    public string? Launcher { get; set; }

    /// <summary>Docker network mode of every container (the daemon here runs with <c>--bridge=none</c>).</summary>
    public string NetworkMode { get; set; } = "host";

    /// <summary>Docker endpoint; empty = <c>DOCKER_HOST</c>, else <c>unix:///var/run/docker.sock</c>.</summary>
    public string? DockerHost { get; set; }

    /// <summary>
    /// Process mode: built-in image name (without tag) → directory holding its dll, e.g.
    /// <c>routeiq/router-trainer</c> → <c>/opt/routeiq</c>. Missing = <see cref="AppContext.BaseDirectory"/>.
    /// </summary>
    public Dictionary<string, string> BuiltIns { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Process mode: where started processes are recorded; empty = <c>{DataDir}/workloads</c>.</summary>
    public string? StateDirectory { get; set; }

    /// <summary>Most characters of a workload's log kept in memory (older output is dropped first).</summary>
    public int MaxLogChars { get; set; } = 4 * 1024 * 1024;

    /// <summary>Seconds to wait for the Docker socket to answer when choosing the launcher.</summary>
    public double DockerProbeSeconds { get; set; } = 2;
}
