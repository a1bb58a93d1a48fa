using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using RouteIQ.ServiceDefaults;

namespace RouteIQ.GatewayAdmin.Api;

/// <summary>
/// The admin API's authentication in the OpenAPI document: <c>Authorization: Bearer</c> and
/// <c>X-API-Key</c> (<see cref="AdminAuth"/>), either one accepted, so the browsable UI can send a key.
/// </summary>
public static class AdminApiSecurity
{
    public const string BearerScheme = "Bearer";
    public const string ApiKeyScheme = "ApiKey";

    public static Task DeclareAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = $"An admin API key ({AdminAuth.Section}:N) as a bearer token.",
        };
        document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            Name = "X-API-Key",
            In = ParameterLocation.Header,
            Description = $"An admin API key ({AdminAuth.Section}:N) in the X-API-Key header.",
        };
        // Two requirements: either scheme satisfies the API (OpenAPI's OR).
        document.Security ??= [];
        document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] });
        document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyScheme, document)] = [] });
        return Task.CompletedTask;
    }
}
