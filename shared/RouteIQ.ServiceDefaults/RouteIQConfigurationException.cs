namespace RouteIQ.ServiceDefaults;

/// <summary>
/// Bad configuration found at start. The host prints its one-line message (which names the
/// key) and exits with code 2 instead of a stack trace.
/// </summary>
public sealed class RouteIQConfigurationException(string key, string problem)
    : Exception($"configuration error: {key}: {problem}")
{
    public string Key { get; } = key;
}
