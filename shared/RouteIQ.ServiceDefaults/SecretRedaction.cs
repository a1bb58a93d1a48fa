using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// Redaction of what the admin API shows (trainer specs, job documents): by variable name
/// (<c>*KEY*</c>, <c>*SECRET*</c>, <c>*TOKEN*</c>, <c>*PASSWORD*</c>, <c>*PASSWD*</c>, <c>*_PAT</c>,
/// <c>*CREDENTIAL*</c>, …) and by value wherever a value is shown: credentials in URLs
/// (<c>scheme://user:pass@host</c>), <c>password=</c>-style pairs in connection and query strings,
/// PEM private keys and well-known token formats.
/// </summary>
public static partial class SecretRedaction
{
    public const string Mask = "***";

    private static readonly string[] SecretWords =
        ["KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE", "AUTH", "COOKIE", "SESSION", "SIGNATURE", "CERT"];

    /// <summary>Whole name parts (split on <c>_ . -</c>) that mark a secret but are too short to match inside words.</summary>
    private static readonly HashSet<string> SecretParts = new(StringComparer.OrdinalIgnoreCase) { "PAT", "PASS", "PWD", "DSN", "SAS", "CONNSTR", "CONNECTIONSTRING" };

    /// <summary>A variable or field name whose value never leaves the server.</summary>
    public static bool LooksSecretName(string name)
    {
        var upper = name.ToUpperInvariant();
        foreach (var word in SecretWords)
        {
            if (upper.Contains(word, StringComparison.Ordinal))
            {
                return true;
            }
        }
        foreach (var part in name.Split(['_', '.', '-', ':'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (SecretParts.Contains(part))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The value with every credential it carries replaced by <see cref="Mask"/>; the rest stays readable.</summary>
    public static string RedactValue(string value)
    {
        if (value.Length < 8)
        {
            return value;
        }
        var result = UrlCredentials().Replace(value, m => m.Groups["scheme"].Value + Mask + "@");
        result = SecretPairs().Replace(result, m => m.Groups["name"].Value + m.Groups["sep"].Value + Mask);
        result = PemPrivateKey().Replace(result, Mask);
        result = KnownTokens().Replace(result, Mask);
        return result;
    }

    /// <summary>An environment map as shown: secret-looking names masked, every other value redacted by value.</summary>
    public static Dictionary<string, string?> RedactEnvironment<T>(IEnumerable<KeyValuePair<string, T>> environment)
        => environment.ToDictionary(kv => kv.Key, kv => kv.Value is null ? null
            : LooksSecretName(kv.Key) ? Mask : RedactValue(kv.Value.ToString() ?? ""));

    /// <summary>Masks the values of <paramref name="map"/>'s secret-looking keys (an environment or parameters object), in place.</summary>
    public static void RedactNamedValues(JsonObject? map)
    {
        if (map is null)
        {
            return;
        }
        foreach (var key in map.Select(p => p.Key).ToList())
        {
            if (map[key] is not null && LooksSecretName(key))
            {
                map[key] = Mask;
            }
        }
    }

    /// <summary>Redacts every string in a JSON tree by value, in place; returns the same node.</summary>
    public static JsonNode? RedactStrings(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(p => p.Key).ToList())
                {
                    if (o[key] is JsonValue v && v.TryGetValue<string>(out var s))
                    {
                        var redacted = RedactValue(s);
                        if (!ReferenceEquals(redacted, s) && redacted != s)
                        {
                            o[key] = redacted;
                        }
                    }
                    else
                    {
                        RedactStrings(o[key]);
                    }
                }
                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    if (a[i] is JsonValue v && v.TryGetValue<string>(out var s))
                    {
                        var redacted = RedactValue(s);
                        if (redacted != s)
                        {
                            a[i] = redacted;
                        }
                    }
                    else
                    {
                        RedactStrings(a[i]);
                    }
                }
                break;
        }
        return node;
    }

    // scheme://user:pass@host and scheme://token@host (user-info of any URL).
    [GeneratedRegex(@"(?<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?<userinfo>[^/\s@?#""']+)@", RegexOptions.CultureInvariant)]
    private static partial Regex UrlCredentials();

    // password=…; pwd=…; token=…&; api_key: … in connection strings, query strings and flags.
    [GeneratedRegex(@"(?<name>\b(?:[A-Za-z0-9]+[_.\-])*(?:password|passwd|pwd|pass|secret|token|access[_-]?token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|sig|signature|credentials?))(?<sep>\s*=\s*|:(?=[^\s/]))(?<value>[^;&\s,""'}]+)",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SecretPairs();

    [GeneratedRegex(@"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)", RegexOptions.CultureInvariant)]
    private static partial Regex PemPrivateKey();

    // GitHub, GitLab, Slack, AWS access key ids, OpenAI-style and Hugging Face tokens, bearer tokens.
    [GeneratedRegex(@"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_\-]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9_\-]{20,}|hf_[A-Za-z0-9]{20,})|(?<=\bBearer\s+)[A-Za-z0-9._~+/=\-]{8,}",
        RegexOptions.CultureInvariant)]
    private static partial Regex KnownTokens();
}
