using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// Issue 16 §3: every <c>/admin</c> route of every service (the embedded host composes all four)
/// requires a policy, so a route added without one fails here instead of being open; and the
/// policies answer exactly as the path-prefix middleware did.
/// </summary>
public sealed class AdminRoutesRequireAuthorizationTests
{
    private const string AdminKey = "routes-admin-key-0123456789";
    private const string IngestKey = "routes-ingest-key-0123456789";

    private static WebApplication BuildEmbedded(string url, params string[] extra) => Cli.EmbeddedHost.Build(
    [
        "--urls", url,
        "--ConnectionStrings:RabbitMq", "",
        "--ConnectionStrings:RouteIQ", "",
        "--RouteIQ:DataDir", TestInfra.TempDirectory("admin-routes-data"),
        "--RouteIQ:Specs:Path", TestInfra.TempDirectory("admin-routes-specs"),
        "--RouteIQ:Rollout:PublicUrl", $"http://127.0.0.1:{TestInfra.FreePort()}",
        "--Logging:LogLevel:Default", "Warning",
        .. extra,
    ]);

    [Fact]
    public async Task Every_admin_route_of_the_embedded_host_requires_an_admin_or_ingest_policy()
    {
        await using var app = BuildEmbedded("http://127.0.0.1:0");

        var routes = ((IEndpointRouteBuilder)app).DataSources.SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Select(e => (Pattern: "/" + e.RoutePattern.RawText?.TrimStart('/'), Policies: e.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(a => a.Policy).ToList()))
            .ToList();
        var admin = routes.Where(r => r.Pattern.StartsWith("/admin", StringComparison.OrdinalIgnoreCase)).ToList();

        Assert.True(admin.Count >= 20, $"only {admin.Count} /admin routes found");
        Assert.All(admin, r => Assert.True(
            r.Policies.Count > 0 && r.Policies.All(p => p is ApiKeyAuthentication.AdminPolicy or ApiKeyAuthentication.IngestPolicy),
            $"{r.Pattern} requires [{string.Join(", ", r.Policies)}]"));
        // The ingest routes take ingest keys: the ingest policy alone (the admin one would add to it).
        foreach (var ingest in new[] { "/v1/traces", "/v1/feedback", "/admin/telemetry/events" })
        {
            Assert.Equal([ApiKeyAuthentication.IngestPolicy], routes.Single(r => r.Pattern == ingest).Policies);
        }
        Assert.Empty(routes.Single(r => r.Pattern == "/status").Policies);
    }

    [Fact]
    public async Task A_refused_request_gets_the_same_401_whatever_the_reason()
    {
        var url = $"http://127.0.0.1:{TestInfra.FreePort()}";
        await using var app = BuildEmbedded(url, "--RouteIQ:Admin:ApiKeys:0", AdminKey, "--RouteIQ:Telemetry:IngestKeys:0", IngestKey);
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(url) };

        async Task<HttpStatusCode> SendAsync(HttpMethod method, string path, string? header = null, string? value = null)
        {
            using var request = new HttpRequestMessage(method, path);
            if (header is not null)
            {
                request.Headers.TryAddWithoutValidation(header, value);
            }
            using var response = await http.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
                var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
                Assert.Equal(401, (int?)body["status"]);
                Assert.Equal("Unauthorized", (string?)body["title"]);
                Assert.Equal("an API key is required (Authorization: Bearer <key> or X-API-Key)", (string?)body["detail"]);
                Assert.Equal("unauthorized", (string?)body["error"]);
            }
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, "/admin/jobs"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, "/admin/jobs", "X-API-Key", "wrong"));
        // An ingest key on an admin route is no key at all there: 401, not 403.
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, "/admin/continuous", "Authorization", "Bearer " + IngestKey));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Get, "/admin/continuous", "Authorization", "Bearer " + AdminKey));
        // No route, or a route without this method, under /admin: still 401 before 404 or 405.
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Get, "/admin/no-such-route"));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(HttpMethod.Put, "/admin/jobs"));
        Assert.Equal(HttpStatusCode.NotFound, await SendAsync(HttpMethod.Get, "/admin/no-such-route", "X-API-Key", AdminKey));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, await SendAsync(HttpMethod.Put, "/admin/jobs", "X-API-Key", AdminKey));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Get, "/health/live"));
        await app.StopAsync();
    }
}
