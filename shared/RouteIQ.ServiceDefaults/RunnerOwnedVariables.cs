namespace RouteIQ.ServiceDefaults;

/// <summary>
/// Environment variables the runner owns: a train request's <c>parameters</c> may not name them
/// (in any letter case), because they decide what a workload's process loads and runs, where it
/// writes, whom it trusts and what the runner injects. A trainer spec's <c>env</c> is operator
/// configuration and may still set them. See docs/security.md.
/// </summary>
public static class RunnerOwnedVariables
{
    /// <summary>Exact names, compared case-insensitively.</summary>
    private static readonly HashSet<string> Names = new(StringComparer.OrdinalIgnoreCase)
    {
        // Program lookup, identity, working and temporary directories.
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "CDPATH", "TMPDIR", "TMP", "TEMP",
        // Shells: start-up files, word splitting, options, traced commands.
        "ENV", "BASH_ENV", "IFS", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "GLOBIGNORE",
        // Other runtimes' start-up hooks and module paths.
        "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
        "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB", "GEM_PATH", "GEM_HOME", "R_PROFILE", "R_PROFILE_USER",
        // glibc: code loaded by iconv and the resolver.
        "GCONV_PATH", "HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "NLSPATH", "MALLOC_CONF",
        // Where traffic goes and which certificates are trusted.
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
        // What the runner injects.
        "MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
    };

    /// <summary>Prefixes, compared case-insensitively.</summary>
    private static readonly string[] Prefixes =
    [
        "ROUTEIQ_",            // the workload contract: job id, output dir, dataset, model
        "LD_", "DYLD_",        // the dynamic loader (LD_PRELOAD, LD_LIBRARY_PATH, …)
        "DOTNET_", "CORECLR_", "COMPLUS_", "ASPNETCORE_", // startup hooks, profilers, runtime switches
        "PYTHON",              // PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, PYTHONWARNINGS…
        "BASH_FUNC_",          // exported shell functions
        "AWS_",                // artifact store endpoint and credentials (operator configuration)
    ];

    public static bool IsRunnerOwned(string name)
    {
        if (Names.Contains(name))
        {
            return true;
        }
        foreach (var prefix in Prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The first runner-owned name among <paramref name="names"/>, or null.</summary>
    public static string? FirstIn(IEnumerable<string> names) => names.FirstOrDefault(IsRunnerOwned);

    /// <summary>The one-line reason a request naming <paramref name="name"/> is refused.</summary>
    public static string Problem(string name) =>
        $"parameter '{name}' names a variable the runner owns (ROUTEIQ_*, PATH, HOME, LD_*, DOTNET_*, PYTHON*, proxies, … in any case); set it in the trainer spec's env instead";
}
