using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;
using RouteIQ.Rollout.Registry;
using RouteIQ.ServiceDefaults;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>Every roll outcome the bus carried, by job id.</summary>
public sealed class RollOutcomes
{
    public ConcurrentDictionary<Guid, ModelVersionRegistered> Registered { get; } = new();

    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<object>> _outcomes = new();

    public void Add(Guid jobId, object outcome) => Get(jobId).TrySetResult(outcome);

    public async Task<object> WaitAsync(Guid jobId, TimeSpan timeout)
    {
        try
        {
            return await Get(jobId).Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"no ModelRolledOut / RollFailed for job {jobId} within {timeout.TotalSeconds:0}s");
        }
    }

    private TaskCompletionSource<object> Get(Guid jobId) =>
        _outcomes.GetOrAdd(jobId, _ => new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously));
}

public sealed class RollOutcomeObserver(RollOutcomes outcomes) : IConsumer<ModelRolledOut>, IConsumer<RollFailed>, IConsumer<ModelVersionRegistered>
{
    public Task Consume(ConsumeContext<ModelVersionRegistered> context)
    {
        outcomes.Registered[context.Message.JobId] = context.Message;
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<ModelRolledOut> context)
    {
        outcomes.Add(context.Message.JobId, context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<RollFailed> context)
    {
        outcomes.Add(context.Message.JobId, context.Message);
        return Task.CompletedTask;
    }
}

public sealed class RollOutcomeObserverDefinition : ConsumerDefinition<RollOutcomeObserver>
{
    public RollOutcomeObserverDefinition() => EndpointName = "rollout-tests.outcomes";
}

/// <summary>
/// A real host: rollout alone (or only the outcome observer, when rollout runs in its own OS
/// process) on a RabbitMQ virtual host, with a database, an artifact store and a launcher.
/// </summary>
public sealed class RolloutTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RolloutTestHost(WebApplication app, string publicUrl)
    {
        _app = app;
        PublicUrl = publicUrl;
        Http = new HttpClient { BaseAddress = new Uri(publicUrl), Timeout = TimeSpan.FromSeconds(20) };
    }

    public string PublicUrl { get; }
    public HttpClient Http { get; }
    public IServiceProvider Services => _app.Services;
    public IArtifactStore Store => _app.Services.GetRequiredService<IArtifactStore>();
    public RollOutcomes Outcomes => _app.Services.GetRequiredService<RollOutcomes>();
    public PromotionEvents PromotionEvents => _app.Services.GetRequiredService<PromotionEvents>();
    public IBus Bus => _app.Services.GetRequiredService<IBus>();

    /// <summary>Starts a host. <paramref name="withRollout"/> false: only the bus, the store and the outcome observer.</summary>
    public static async Task<RolloutTestHost> StartAsync(IDictionary<string, string?> settings, bool withRollout = true)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Development" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddServiceDefaults("rollout-tests");
        if (withRollout)
        {
            builder.AddRollout();
        }
        else
        {
            // Lets the test read rollout's tables and artifacts while rollout runs in another process.
            builder.AddRouteIQDbContext<RegistryDbContext>(RegistryDbContext.Schema);
            builder.AddRouteIQArtifactStore();
        }
        builder.Services.AddSingleton<RollOutcomes>();
        builder.Services.AddSingleton<PromotionEvents>();
        builder.AddRouteIQConsumers(x =>
        {
            x.AddConsumer<RollOutcomeObserver, RollOutcomeObserverDefinition>();
            x.AddConsumer<PromotionEventObserver, PromotionEventObserverDefinition>();
        });
        builder.AddRouteIQBus();
        var app = builder.Build();
        app.MapDefaultEndpoints();
        if (withRollout)
        {
            app.MapRolloutApi();
        }
        await app.StartAsync();
        return new RolloutTestHost(app, settings["RouteIQ:Rollout:PublicUrl"] ?? "http://127.0.0.1:9000");
    }

    /// <summary>Base settings: a fresh data dir, a RabbitMQ vhost, a free public port, the process launcher, a short drain.</summary>
    public static async Task<Dictionary<string, string?>> SettingsAsync(string prefix, string? dataDir = null)
    {
        return new Dictionary<string, string?>
        {
            ["RouteIQ:DataDir"] = dataDir ?? TestInfra.TempDirectory(prefix),
            ["RouteIQ:NodeName"] = $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)],
            ["ConnectionStrings:RabbitMq"] = await TestInfra.CreateVirtualHostAsync(prefix),
            ["RouteIQ:Rollout:PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
            ["RouteIQ:Rollout:StopServersOnShutdown"] = "true",
            ["RouteIQ:Workloads:Launcher"] = "Process",
        };
    }

    /// <summary>Writes a run output and publishes its <see cref="TrainCompleted"/>; returns the job id.</summary>
    public async Task<Guid> CompleteTrainingAsync(string model, string content, bool rollOnSuccess = false, IReadOnlyList<string>? serveCommand = null, string? serveImage = null)
    {
        var message = await WriteRunOutputAsync(model, content, rollOnSuccess, serveCommand, serveImage);
        await Bus.Publish(message);
        return message.JobId;
    }

    /// <summary>Writes a run output to the store; returns the <see cref="TrainCompleted"/> a runner would publish for it.</summary>
    public async Task<TrainCompleted> WriteRunOutputAsync(string model, string content, bool rollOnSuccess = false, IReadOnlyList<string>? serveCommand = null, string? serveImage = null)
    {
        var job = Guid.NewGuid();
        var files = new List<ArtifactFile>();
        foreach (var (name, text) in new[] { ("model.json", content), ("weights/part-0.bin", $"weights of {content}") })
        {
            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));
            var file = await Store.PutAsync(ArtifactKeys.RunOutput(job) + name, stream);
            files.Add(file with { Path = name });
        }
        return new TrainCompleted
        {
            JobId = job,
            Trainer = "test-trainer",
            Node = "test",
            WorkloadName = $"routeiq-train-test-{job:N}",
            ModelName = model,
            OutputUri = Store.GetUri(ArtifactKeys.RunOutput(job)),
            Files = files,
            Metrics = new Dictionary<string, double> { ["accuracy"] = 0.9 },
            ServeImage = serveImage,
            ServeCommand = serveCommand,
            RollOnSuccess = rollOnSuccess,
            WaitReadySeconds = 30,
            CompletedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>Waits until the version registered for <paramref name="job"/> is ready (read from rollout's own tables).</summary>
    public async Task<int> WaitRegisteredAsync(Guid job, TimeSpan? timeout = null)
    {
        var factory = Services.GetRequiredService<IDbContextFactory<RegistryDbContext>>();
        int version = 0;
        await TestInfra.WaitUntilAsync(async () =>
        {
            await using var db = await factory.CreateDbContextAsync();
            var row = await db.Versions.AsNoTracking().FirstOrDefaultAsync(v => v.TrainJobId == job && v.State == VersionStates.Ready);
            version = row?.Version ?? 0;
            return row is not null;
        }, timeout ?? TimeSpan.FromSeconds(30), $"version of job {job} registered");
        return version;
    }

    /// <summary>The outcome as <see cref="ModelRolledOut"/>, or a failure that shows the reason.</summary>
    public static ModelRolledOut Succeeded(object outcome) => outcome as ModelRolledOut
        ?? throw new Xunit.Sdk.XunitException($"expected ModelRolledOut, got {JsonSerializer.Serialize(outcome, outcome.GetType())}");

    public async Task<object> RollAsync(string? model, string? reference, IReadOnlyList<string>? serveCommand = null, bool rollback = false,
        string? serveImage = "test-serve", int waitReadySeconds = 30)
    {
        var job = await PublishRollAsync(model, reference, serveCommand, rollback, serveImage, waitReadySeconds);
        return await Outcomes.WaitAsync(job, TimeSpan.FromSeconds(waitReadySeconds + 60));
    }

    public async Task<Guid> PublishRollAsync(string? model, string? reference, IReadOnlyList<string>? serveCommand = null, bool rollback = false,
        string? serveImage = "test-serve", int waitReadySeconds = 30)
    {
        var job = Guid.NewGuid();
        await Bus.Publish(new RollRequested
        {
            JobId = job,
            ModelName = model,
            Ref = reference,
            ServeImage = serveImage,
            ServeCommand = serveCommand,
            WaitReadySeconds = waitReadySeconds,
            IsRollback = rollback,
            RequestedAt = DateTimeOffset.UtcNow,
        });
        return job;
    }

    /// <summary>The version the stable endpoint's server for <paramref name="model"/> reports.</summary>
    public async Task<int> InvokeAsync(string? model)
    {
        using var response = await Http.PostAsJsonAsync(model is null ? "/invocations" : $"/{model}/invocations", new { query = "hello" });
        response.EnsureSuccessStatusCode();
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("version").GetInt32();
    }

    public async Task<TResponse> RequestAsync<TRequest, TResponse>(TRequest request)
        where TRequest : class where TResponse : class
    {
        var client = Bus.CreateRequestClient<TRequest>(RequestTimeout.After(s: 20));
        var response = await client.GetResponse<TResponse>(request);
        return response.Message;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
