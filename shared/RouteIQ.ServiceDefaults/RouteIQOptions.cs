using System.ComponentModel.DataAnnotations;

namespace RouteIQ.ServiceDefaults;

/// <summary>Settings every service shares (section <c>RouteIQ</c>).</summary>
public sealed class RouteIQOptions
{
    public const string Section = "RouteIQ";

    /// <summary>Where embedded mode keeps its SQLite files and artifacts. Env: <c>RouteIQ__DataDir</c>.</summary>
    [Required]
    public string DataDir { get; set; } = "./.routeiq";

    /// <summary>This node's name (labels, heartbeats). Env: <c>RouteIQ__NodeName</c>. Default: the host name.</summary>
    public string? NodeName { get; set; }

    public string ResolvedNodeName => string.IsNullOrWhiteSpace(NodeName) ? Environment.MachineName : NodeName;

    public string FullDataDir => Path.GetFullPath(DataDir);
}
