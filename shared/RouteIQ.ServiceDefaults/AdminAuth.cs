using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// The admin API keys (<c>RouteIQ:Admin:ApiKeys</c>, env <c>RouteIQ__Admin__ApiKeys__0</c>…), as
/// <c>Authorization: Bearer</c> or <c>X-API-Key</c>, compared in constant time. Routes require them
/// through <see cref="ApiKeyAuthentication"/>'s policies; health details are shown to their holders only.
/// Without keys the server refuses to listen on anything but loopback.
/// </summary>
public sealed class AdminAuth
{
    public const string Section = "RouteIQ:Admin:ApiKeys";
    private readonly byte[][] _keyHashes;

    public AdminAuth(IConfiguration configuration)
        : this(configuration.GetSection(Section).GetChildren().Select(c => c.Value))
    {
    }

    private AdminAuth(IEnumerable<string?> keys)
    {
        _keyHashes = keys
            .Where(v => !string.IsNullOrWhiteSpace(v))
            .Select(v => SHA256.HashData(Encoding.UTF8.GetBytes(v!.Trim())))
            .ToArray();
    }

    /// <summary>The same check over another key set (the ingest routes', see <see cref="IngestAuth"/>).</summary>
    public static AdminAuth FromKeys(IEnumerable<string?> keys) => new(keys);

    public bool Enabled => _keyHashes.Length > 0;

    public bool IsValid(string? presented)
    {
        if (string.IsNullOrEmpty(presented))
        {
            return false;
        }
        // Hashing first makes every comparison the same length; the loop never exits early.
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented.Trim()));
        var ok = false;
        foreach (var key in _keyHashes)
        {
            ok |= CryptographicOperations.FixedTimeEquals(hash, key);
        }
        return ok;
    }

    /// <summary>True when no keys are configured (loopback only) or the request carries a valid key.</summary>
    public bool IsAuthorized(HttpRequest request) => !Enabled || IsValid(ReadKey(request));

    public static string? ReadKey(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..];
        }
        var apiKey = request.Headers["X-API-Key"].ToString();
        return apiKey.Length > 0 ? apiKey : null;
    }
}
