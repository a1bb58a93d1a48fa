using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// API-key authentication (<c>Authorization: Bearer &lt;key&gt;</c> or <c>X-API-Key</c>, checked by
/// <see cref="AdminAuth"/>'s constant-time comparison) and two policies applied per route group with
/// <c>.RequireAuthorization(…)</c>: <see cref="AdminPolicy"/> (admin keys, <c>RouteIQ:Admin:ApiKeys</c>)
/// and <see cref="IngestPolicy"/> (ingest or admin keys, see <see cref="IngestAuth"/>). A policy whose
/// key set is empty lets everyone through: the keyless mode, loopback only (see <see cref="KeylessBindingGuard"/>).
/// Any other <c>/admin</c> path (no such route, wrong method) takes an admin key too, as the fallback policy.
/// </summary>
public static class ApiKeyAuthentication
{
    public const string Scheme = "RouteIQApiKey";
    public const string AdminPolicy = "routeiq-admin";
    public const string IngestPolicy = "routeiq-ingest";

    private const string AdminRole = "admin";
    private const string IngestRole = "ingest";

    /// <summary>For the services with <c>/admin</c> or ingest routes. Once per process (embedded mode calls it per service).</summary>
    public static IHostApplicationBuilder AddRouteIQApiKeyAuth(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(ApiKeyAuthMarker)))
        {
            return builder;
        }
        builder.Services.AddSingleton<ApiKeyAuthMarker>();
        builder.Services.TryAddSingleton<AdminAuth>();
        builder.Services.AddSingleton<IngestAuth>();
        builder.Services.AddAuthentication(Scheme).AddScheme<AuthenticationSchemeOptions, ApiKeyHandler>(Scheme, null);
        builder.Services.AddSingleton<IAuthorizationHandler, ApiKeyRequirementHandler>();
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, p => p.AddAuthenticationSchemes(Scheme).AddRequirements(new ApiKeyRequirement(AdminRole, AdminPathsOnly: false)))
            .AddPolicy(IngestPolicy, p => p.AddAuthenticationSchemes(Scheme).AddRequirements(new ApiKeyRequirement(IngestRole, AdminPathsOnly: false)))
            .SetFallbackPolicy(new AuthorizationPolicyBuilder(Scheme).AddRequirements(new ApiKeyRequirement(AdminRole, AdminPathsOnly: true)).Build());
        return builder;
    }

    /// <summary>Authentication and authorization middleware, when the host opted in (<see cref="AddRouteIQApiKeyAuth"/>).</summary>
    public static IApplicationBuilder UseRouteIQApiKeyAuth(this IApplicationBuilder app)
    {
        if (app.ApplicationServices.GetService<ApiKeyAuthMarker>() is null)
        {
            return app;
        }
        return app.UseAuthentication().UseAuthorization();
    }

    private sealed class ApiKeyAuthMarker;

    private sealed record ApiKeyRequirement(string Role, bool AdminPathsOnly) : IAuthorizationRequirement;

    private sealed class ApiKeyRequirementHandler(AdminAuth admin, IngestAuth ingest) : AuthorizationHandler<ApiKeyRequirement>
    {
        protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ApiKeyRequirement requirement)
        {
            var keys = requirement.Role == IngestRole ? ingest.Keys : admin;
            var applies = !requirement.AdminPathsOnly
                || (context.Resource is HttpContext http && http.Request.Path.StartsWithSegments("/admin", StringComparison.OrdinalIgnoreCase));
            if (!applies || !keys.Enabled || context.User.IsInRole(requirement.Role))
            {
                context.Succeed(requirement);
            }
            return Task.CompletedTask;
        }
    }

    private sealed class ApiKeyHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder,
        AdminAuth admin, IngestAuth ingest)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (AdminAuth.ReadKey(Request) is not { } key)
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }
            // Both checks always run: the time taken does not tell an ingest key from an admin key.
            var isAdmin = admin.IsValid(key);
            var isIngest = ingest.Keys.IsValid(key);
            if (!isAdmin && !isIngest)
            {
                return Task.FromResult(AuthenticateResult.Fail("unknown API key"));
            }
            var roles = isAdmin ? new[] { AdminRole, IngestRole } : [IngestRole];
            var identity = new ClaimsIdentity(roles.Select(r => new Claim(ClaimTypes.Role, r)), Scheme.Name);
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name)));
        }

        protected override Task HandleChallengeAsync(AuthenticationProperties properties) => UnauthorizedAsync();

        // A key that is valid but not for this route (an ingest key on an admin route) is answered as no key: 401, not 403.
        protected override Task HandleForbiddenAsync(AuthenticationProperties properties) => UnauthorizedAsync();

        private Task UnauthorizedAsync()
        {
            Response.StatusCode = StatusCodes.Status401Unauthorized;
            Response.Headers.WWWAuthenticate = "Bearer";
            return Results.Problem(statusCode: 401, title: "Unauthorized",
                detail: "an API key is required (Authorization: Bearer <key> or X-API-Key)",
                extensions: new Dictionary<string, object?> { ["error"] = "unauthorized" }).ExecuteAsync(Context);
        }
    }
}
