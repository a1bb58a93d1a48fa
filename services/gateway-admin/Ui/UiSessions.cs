using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Ui;

/// <summary>
/// The dashboard's login. With admin keys configured (<c>RouteIQ:Admin:ApiKeys</c>) a key typed into
/// the login form becomes a session cookie: HTTP-only, SameSite=Strict, Secure over https, and scoped to
/// <c>/ui</c> (the browser never sends it to <c>/admin/*</c>, whose auth stays keys-only). The cookie holds
/// a data-protected, time-limited fingerprint of the key, never the key: removing a key from the
/// configuration ends its sessions. Without keys the server only listens on loopback (as the API).
/// </summary>
public sealed class UiSessions(AdminAuth auth, IConfiguration configuration, IDataProtectionProvider protection, TimeProvider time)
{
    public const string CookieName = "routeiq_ui";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    private readonly ITimeLimitedDataProtector _protector = protection.CreateProtector("RouteIQ.Ui.Session.v1").ToTimeLimitedDataProtector();

    private readonly HashSet<string> _fingerprints = configuration.GetSection(AdminAuth.Section).GetChildren()
        .Select(c => c.Value).Where(v => !string.IsNullOrWhiteSpace(v)).Select(v => Fingerprint(v!)).ToHashSet(StringComparer.Ordinal);

    public bool KeysRequired => auth.Enabled;

    private static string Fingerprint(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("routeiq-ui:" + key.Trim())));

    /// <summary>True when the key is an admin key; then the response carries a new session cookie.</summary>
    public bool SignIn(HttpContext context, string? key)
    {
        if (!auth.Enabled || !auth.IsValid(key))
        {
            return false;
        }
        var token = _protector.Protect(Fingerprint(key!), time.GetUtcNow() + Lifetime);
        context.Response.Cookies.Append(CookieName, token, CookieOptions(context));
        return true;
    }

    public void SignOut(HttpContext context) => context.Response.Cookies.Delete(CookieName, CookieOptions(context));

    private static CookieOptions CookieOptions(HttpContext context) => new()
    {
        HttpOnly = true,
        Secure = context.Request.IsHttps,
        SameSite = SameSiteMode.Strict,
        Path = UiExtensions.Prefix,
        IsEssential = true,
        MaxAge = Lifetime,
    };

    /// <summary>No keys configured, a valid session cookie, or an admin key in the request's headers.</summary>
    public bool IsSignedIn(HttpContext context)
    {
        if (!auth.Enabled || auth.IsValid(AdminAuth.ReadKey(context.Request)))
        {
            return true;
        }
        if (context.Request.Cookies[CookieName] is not { Length: > 0 } token)
        {
            return false;
        }
        try
        {
            return _fingerprints.Contains(_protector.Unprotect(token, out _));
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>
    /// Middleware: every <c>/ui</c> path but the login page and the assets needs a session. A page
    /// request without one is sent to the login form; anything else (a form post, the log stream) gets 401.
    /// </summary>
    public static Task GateAsync(HttpContext context, RequestDelegate next)
    {
        var path = context.Request.Path;
        if (!path.StartsWithSegments(UiExtensions.Prefix, StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments($"{UiExtensions.Prefix}/login", StringComparison.OrdinalIgnoreCase)
            || path.StartsWithSegments($"{UiExtensions.Prefix}/assets", StringComparison.OrdinalIgnoreCase))
        {
            return next(context);
        }
        var sessions = context.RequestServices.GetRequiredService<UiSessions>();
        if (sessions.IsSignedIn(context))
        {
            return next(context);
        }
        if (HttpMethods.IsGet(context.Request.Method) && !path.Value!.EndsWith("/stream", StringComparison.Ordinal))
        {
            var back = Uri.EscapeDataString(context.Request.Path + context.Request.QueryString);
            context.Response.Redirect($"{UiExtensions.Prefix}/login?returnUrl={back}");
            return Task.CompletedTask;
        }
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        return Results.Problem(statusCode: 401, title: "Unauthorized", detail: "sign in at /ui/login first",
            extensions: new Dictionary<string, object?> { ["error"] = "unauthorized" }).ExecuteAsync(context);
    }
}
