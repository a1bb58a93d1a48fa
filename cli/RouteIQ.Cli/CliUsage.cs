using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace RouteIQ.Cli;

/// <summary>A mistake on the command line or in the environment: one line on stderr, exit code 2.</summary>
public sealed class CliUsageException(string message) : Exception(message);

public static class CliServer
{
    /// <summary><c>--server</c> as a base URI; anything but an absolute http(s) URL is a usage error.</summary>
    public static Uri Uri(string server)
    {
        if (!System.Uri.TryCreate(server.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
        {
            throw new CliUsageException($"--server '{server}' is not an http(s) URL; write the scheme too, e.g. --server http://{server.Split("://")[^1].TrimEnd('/')}");
        }
        return uri;
    }

    public static AdminClient Client(string server, string? apiKey) => AdminClient.Create(Uri(server), apiKey);
}

/// <summary>Parse errors as a newcomer reads them: no .NET type names, a pointer to --help, exit code 2.</summary>
public static partial class CliUsage
{
    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for (?<what>option|argument) '(?<name>[^']+)' as expected type '(?<type>[^']+)'\.?$")]
    private static partial Regex CannotParse();

    public static IEnumerable<string> Messages(ParseResult parse) => parse.Errors.Select(e => Translate(e.Message));

    /// <summary>One parse error, with type names replaced by what the value should look like.</summary>
    public static string Translate(string message)
    {
        var match = CannotParse().Match(message.Trim());
        if (!match.Success)
        {
            return message;
        }
        return $"{match.Groups["name"].Value}: '{match.Groups["value"].Value}' is not {Describe(match.Groups["type"].Value)}";
    }

    internal static string Describe(string typeName)
    {
        var inner = Regex.Match(typeName, @"^System\.Nullable`1\[(?<t>[^\]]+)\]$") is { Success: true } m ? m.Groups["t"].Value : typeName;
        return inner switch
        {
            "System.Int32" or "System.Int64" or "System.Int16" => "a whole number",
            "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.DateTimeOffset" or "System.DateTime" => "a date and time (ISO 8601, e.g. 2026-01-31T00:00:00Z)",
            "System.Boolean" => "true or false",
            "System.TimeSpan" => "a duration (hh:mm:ss)",
            _ => "a valid value",
        };
    }

    /// <summary>
    /// <c>up</c> and <c>demo</c> pass configuration on the command line (<c>--RouteIQ:DataDir=x</c>,
    /// <c>--RouteIQ:DataDir x</c>); every other unknown token is a typo, refused with a suggestion.
    /// </summary>
    public static string? UnknownOption(ParseResult parse, Command command)
    {
        var tokens = parse.UnmatchedTokens;
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            var name = token.TrimStart('-', '/').Split('=')[0];
            if (token.StartsWith('-') && (name.Contains(':', StringComparison.Ordinal) || name.Contains("__", StringComparison.Ordinal)))
            {
                if (!token.Contains('=', StringComparison.Ordinal))
                {
                    i++; // its value
                }
                continue;
            }
            var known = command.Options.Select(o => o.Name).Concat(parse.RootCommandResult.Command.Options.Select(o => o.Name)).ToList();
            var suggestion = known.Where(k => k.StartsWith("--", StringComparison.Ordinal))
                .MinBy(k => Distance(k, token.Split('=')[0]));
            var hint = suggestion is not null && Distance(suggestion, token.Split('=')[0]) <= 3 ? $" (did you mean {suggestion}?)" : "";
            return token.StartsWith('-')
                ? $"unknown option '{token}' for '{command.Name}'{hint}; configuration keys go as --Section:Key=value, e.g. --RouteIQ:DataDir=./data"
                : $"unexpected argument '{token}' for '{command.Name}'";
        }
        return null;
    }

    /// <summary><c>--urls</c>: one or more absolute http(s) URLs separated by ';'.</summary>
    public static void RequireUrls(string urls)
    {
        foreach (var url in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var normalized = url.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal);
            if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            {
                throw new CliUsageException($"--urls '{url}' is not an http(s) URL; write e.g. --urls http://127.0.0.1:{(int.TryParse(url, out var port) ? port : 8080)}");
            }
        }
    }

    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
        }
        return d[a.Length, b.Length];
    }
}
