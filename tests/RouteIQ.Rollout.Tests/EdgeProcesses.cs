namespace RouteIQ.Rollout.Tests;

/// <summary>Finds stable endpoint (edge) processes by their command line.</summary>
public static class EdgeProcesses
{
    /// <summary>Live <c>RouteIQ.Rollout.Edge</c> processes listening on <paramref name="publicUrl"/>.</summary>
    public static IReadOnlyList<int> For(string publicUrl)
    {
        var url = new Uri(publicUrl).ToString();
        return ServingProcesses.Live("cmdline")
            .Where(p => p.Values.Any(a => a.EndsWith("RouteIQ.Rollout.Edge.dll", StringComparison.Ordinal)) && p.Values.Contains(url))
            .Select(p => p.Pid)
            .ToList();
    }
}
