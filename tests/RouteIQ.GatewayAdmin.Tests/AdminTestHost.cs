using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using RouteIQ.Contracts;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>
/// One gateway-admin replica on real Kestrel (loopback, random port), real RabbitMQ and
/// PostgreSQL. <paramref name="configure"/> may add test consumers that play the runner and rollout.
/// </summary>
public sealed class AdminTestHost : IAsyncDisposable
{
    public const string ApiKey = "test-admin-key-0123456789";

    private readonly RequestsInFlight _inFlight;

    private AdminTestHost(WebApplication app, string baseUrl, string rabbitUri, string database, RequestsInFlight inFlight)
    {
        App = app;
        BaseUrl = baseUrl;
        RabbitUri = rabbitUri;
        Database = database;
        _inFlight = inFlight;
        Http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(120) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
    }

    public WebApplication App { get; }
    public string BaseUrl { get; }
    public HttpClient Http { get; }
    public IServiceProvider Services => App.Services;
    public string RabbitUri { get; }
    public string Database { get; }

    /// <summary>Requests this host has begun and not yet finished (its handler still running).</summary>
    private sealed class RequestsInFlight
    {
        public int Count;
    }

    public static async Task<AdminTestHost> StartAsync(string rabbitUri, string database, string specsPath,
        IDictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        var port = TestInfra.FreePort();
        var url = $"http://127.0.0.1:{port}";
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        var config = new Dictionary<string, string?>
        {
            ["ConnectionStrings:RabbitMq"] = rabbitUri,
            ["ConnectionStrings:RouteIQ"] = database,
            ["RouteIQ:Specs:Path"] = specsPath,
            ["RouteIQ:Specs:PollSeconds"] = "0.5",
            ["RouteIQ:DataDir"] = TestInfra.TempDirectory("admin-data"),
            ["RouteIQ:Admin:ApiKeys:0"] = ApiKey,
            ["RouteIQ:ShutdownGraceSeconds"] = "5",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:RouteIQ"] = "Information",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            config[k] = v;
        }
        builder.Configuration.AddInMemoryCollection(config);
        builder.WebHost.UseUrls(url);
        builder.Logging.ClearProviders();
        builder.AddServiceDefaults("gateway-admin");
        builder.AddGatewayAdmin();
        configure?.Invoke(builder);
        builder.AddRouteIQBus();
        var app = builder.Build();
        var inFlight = new RequestsInFlight();
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref inFlight.Count);
            try
            {
                await next(context);
            }
            finally
            {
                Interlocked.Decrement(ref inFlight.Count);
            }
        });
        app.MapDefaultEndpoints();
        app.MapGatewayAdminApi();
        await app.StartAsync();
        return new AdminTestHost(app, url, rabbitUri, database, inFlight);
    }

    public async Task<(int Status, JsonObject Body, HttpResponseMessage Response)> PostAsync(string path, object? body, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = body is string s ? new StringContent(s, Encoding.UTF8, "application/json") : JsonContent.Create(body ?? new { }),
        };
        configure?.Invoke(request);
        var response = await Http.SendAsync(request);
        return ((int)response.StatusCode, await ReadObjectAsync(response), response);
    }

    public async Task<(int Status, JsonObject Body)> GetAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        return ((int)response.StatusCode, await ReadObjectAsync(response));
    }

    private static async Task<JsonObject> ReadObjectAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        if (text.Length == 0)
        {
            return [];
        }
        return JsonNode.Parse(text) as JsonObject ?? throw new InvalidOperationException($"not a JSON object: {text}");
    }

    /// <summary>Polls the job document (the test's own polling; the server never polls).</summary>
    public async Task<JsonObject> WaitForJobAsync(string jobId, Func<JsonObject, bool> condition, TimeSpan timeout)
    {
        JsonObject last = [];
        await TestInfra.WaitUntilAsync(async () =>
        {
            var (status, body) = await GetAsync($"/admin/jobs/{jobId}");
            last = body;
            return status == 200 && condition(body);
        }, timeout, $"job {jobId} (last: {last.ToJsonString()})");
        return last;
    }

    /// <summary>Rows in the ledger's outbox: messages committed with a job change and not yet sent.</summary>
    public async Task<long> OutboxCountAsync()
    {
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM gateway_admin.outbox", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// The barrier before asserting that something did not happen: no request is still being handled (an aborted one
    /// included), the outbox is empty (everything the ledger committed has been sent) and the queues the fake runner
    /// consumes (<c>trainer-runner.cpu</c>: train requests; <c>fake-runner.*</c>: cancels) are drained (all of it consumed).
    /// </summary>
    public async Task SettledAsync(TimeSpan timeout)
    {
        await TestInfra.WaitUntilAsync(() => Task.FromResult(Volatile.Read(ref _inFlight.Count) == 0), timeout, "the host's requests to finish");
        await TestInfra.WaitUntilAsync(async () => await OutboxCountAsync() == 0, timeout, "the outbox to be sent");
        await TestInfra.WaitForQueuesDrainedAsync(RabbitUri,
            q => q == RunnerQueues.Cpu || q.StartsWith("fake-runner.", StringComparison.Ordinal), timeout);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        try
        {
            await App.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        }
        finally
        {
            await App.DisposeAsync();
        }
    }
}
