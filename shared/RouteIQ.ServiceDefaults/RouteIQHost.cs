using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// Runs a service host and turns configuration errors into one clear line on stderr and exit
/// code 2, so a typo in a connection string never greets an operator with a stack trace.
/// </summary>
public static class RouteIQHost
{
    public const int ConfigurationErrorExitCode = 2;

    public static async Task<int> RunAsync(Func<WebApplication> build)
    {
        try
        {
            var app = build();
            await app.RunAsync();
            return 0;
        }
        catch (Exception ex) when (FindConfigurationError(ex) is { } message)
        {
            await Console.Error.WriteLineAsync(message);
            return ConfigurationErrorExitCode;
        }
    }

    /// <summary>The one-line message for a configuration error anywhere in <paramref name="ex"/>, else null.</summary>
    public static string? FindConfigurationError(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case RouteIQConfigurationException config:
                    return config.Message;
                case OptionsValidationException options:
                    return $"configuration error: {options.OptionsName}: {string.Join("; ", options.Failures)}";
                case AggregateException aggregate:
                    foreach (var inner in aggregate.InnerExceptions)
                    {
                        if (FindConfigurationError(inner) is { } found)
                        {
                            return found;
                        }
                    }
                    break;
            }
        }
        return null;
    }
}
