using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
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
            foreach (var schema in app.Services.GetServices<ISchemaInitializer>())
            {
                await schema.InitializeAsync(app.Lifetime.ApplicationStopping);
            }
            await app.RunAsync();
            return 0;
        }
        catch (Exception ex) when (FindConfigurationError(ex) is { } message)
        {
            await Console.Error.WriteLineAsync(message);
            return ConfigurationErrorExitCode;
        }
    }

    /// <summary>
    /// The binder's "Failed to convert configuration value 'abc' at 'RouteIQ:Runner:Slots' to type
    /// 'System.Int32'." as one line naming the key and what it should be.
    /// </summary>
    internal static string? ConversionError(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message,
            @"^Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']+)' to type '(?<type>[^']+)'");
        if (!match.Success)
        {
            return null;
        }
        var type = match.Groups["type"].Value;
        var expected = type switch
        {
            "System.Int32" or "System.Int64" or "System.Int16" => "a whole number",
            "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.Boolean" => "true or false",
            "System.TimeSpan" => "a duration (hh:mm:ss)",
            _ => "a " + type[(type.LastIndexOf('.') + 1)..],
        };
        return $"configuration error: {match.Groups["key"].Value}: '{match.Groups["value"].Value}' is not {expected}";
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
                case InvalidOperationException conversion when ConversionError(conversion.Message) is { } converted:
                    return converted;
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
