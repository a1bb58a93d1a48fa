using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.OpenApi;
using RouteIQ.Client;

namespace RouteIQ.ServiceDefaults;

/// <summary>
/// What a service with an HTTP API adds: the wire JSON of <see cref="ApiJson"/> (snake_case, as
/// the response records are described) and the OpenAPI document <c>/openapi/v1.json</c> with the
/// authentication it takes: <c>Authorization: Bearer</c> and <c>X-API-Key</c> (<see cref="AdminAuth"/>),
/// either one accepted, so the browsable UI can send a key.
/// </summary>
public static class HttpApiExtensions
{
    /// <summary>Idempotent: gateway-admin and telemetry-ingest both call it, also in one process.</summary>
    public static IHostApplicationBuilder AddRouteIQHttpApi(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(HttpApiMarker)))
        {
            return builder;
        }
        builder.Services.AddSingleton<HttpApiMarker>();
        builder.Services.Configure<JsonOptions>(o => ApiJson.Configure(o.SerializerOptions));
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer(DeclareAsync));
        return builder;
    }

    private sealed class HttpApiMarker;

    /// <summary>
    /// Describes the request body in the OpenAPI document as <paramref name="type"/> (default content type
    /// <c>application/json</c>). Unlike <c>Accepts&lt;T&gt;()</c> it does not take part in routing: a body
    /// sent with another or no content type still reaches the handler, which reads and validates it itself.
    /// </summary>
    public static TBuilder DescribeBody<TBuilder>(this TBuilder builder, Type type, params string[] contentTypes) where TBuilder : IEndpointConventionBuilder
        => builder.AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
        {
            IOpenApiSchema schema = await context.GetOrCreateSchemaAsync(type, null, cancellationToken);
            if (context.Document is { } document && type != typeof(string) && type != typeof(byte[]))
            {
                // A named component, like the response records, instead of a copy inlined in the operation.
                document.Components ??= new OpenApiComponents();
                document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
                document.Components.Schemas[type.Name] = schema;
                schema = new OpenApiSchemaReference(type.Name, document);
            }
            operation.RequestBody = new OpenApiRequestBody
            {
                Content = (contentTypes.Length > 0 ? contentTypes : ["application/json"]).ToDictionary(c => c, _ => new OpenApiMediaType { Schema = schema }),
            };
        });

    /// <summary>
    /// The routes need a key of <paramref name="policy"/> (<see cref="ApiKeyAuthentication"/>), and the
    /// OpenAPI document says so: the 401 problem they answer without one.
    /// </summary>
    public static TBuilder RequireApiKey<TBuilder>(this TBuilder builder, string policy) where TBuilder : IEndpointConventionBuilder
        => builder.RequireAuthorization(policy)
            .WithMetadata(new ProducesResponseTypeMetadata(StatusCodes.Status401Unauthorized, typeof(ApiProblemDocument), ["application/problem+json"]));

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
