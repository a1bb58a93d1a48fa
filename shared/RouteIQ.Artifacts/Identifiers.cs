namespace RouteIQ.Artifacts;

/// <summary>A request value that is not a valid identifier or artifact key; <see cref="Field"/> names it (400 problem+json).</summary>
public sealed class InvalidIdentifierException(string field, string message) : ArgumentException(message, field)
{
    public string Field { get; } = field;
}

/// <summary>
/// The one validator of identifiers (model, dataset, alias, trainer names, version parts) and,
/// through <see cref="ArtifactKeys.Normalize"/>, of artifact keys: every store and every endpoint
/// uses it. Character loops, not regular expressions: nothing like <c>$</c> matching before a
/// trailing newline can slip through.
/// </summary>
public static class Identifiers
{
    public const int MaxLength = 128;

    /// <summary>Letters, digits, <c>_</c>, <c>.</c>, <c>-</c> (ASCII), starting with a letter or digit, at most <paramref name="maxLength"/> characters, no <c>..</c>.</summary>
    public static string? Problem(string? value, string field, int maxLength = MaxLength)
    {
        if (string.IsNullOrEmpty(value))
        {
            return $"{field} is required";
        }
        if (value.Length > maxLength)
        {
            return $"{field} is longer than {maxLength} characters";
        }
        if (!char.IsAsciiLetterOrDigit(value[0]))
        {
            return $"{field} must start with a letter or digit";
        }
        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-'))
            {
                return $"{field} may only contain letters, digits, '_', '.' and '-' (found {Describe(c)})";
            }
        }
        if (value.Contains("..", StringComparison.Ordinal))
        {
            return $"{field} must not contain '..'";
        }
        return null;
    }

    public static bool IsValid(string? value, int maxLength = MaxLength) => Problem(value, "id", maxLength) is null;

    /// <summary>Returns <paramref name="value"/>, or throws <see cref="InvalidIdentifierException"/> naming <paramref name="field"/>.</summary>
    public static string Validate(string? value, string field, int maxLength = MaxLength)
        => Problem(value, field, maxLength) is { } problem ? throw new InvalidIdentifierException(field, problem) : value!;

    internal static string Describe(char c) => char.IsControl(c) || char.IsWhiteSpace(c) || c > 0x7E
        ? $"U+{(int)c:X4}"
        : $"'{c}'";
}
