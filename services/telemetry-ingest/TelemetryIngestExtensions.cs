using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;
using RouteIQ.Client;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest.Datasets;
using RouteIQ.TelemetryIngest.Drift;
using RouteIQ.TelemetryIngest.Inputs;
using RouteIQ.TelemetryIngest.Otlp;
using RouteIQ.TelemetryIngest.Parsing;
using RouteIQ.TelemetryIngest.Store;

namespace RouteIQ.TelemetryIngest;

public static class TelemetryIngestExtensions
{
    /// <summary>
    /// telemetry-ingest: the decision store (schema <c>telemetry</c>), the shared parser and
    /// writer, the OTLP receiver, the Jaeger and JSONL importers, the dataset builder (artifact store),
    /// API-key auth for the ingest and <c>/admin</c> routes, and —
    /// when <c>ConnectionStrings:RabbitMq</c> is set — the raw RabbitMQ input.
    /// </summary>
    public static IHostApplicationBuilder AddTelemetryIngest(this IHostApplicationBuilder builder)
    {
        builder.AddRouteIQHttpApi();
        builder.Services.AddOptions<TelemetryIngestOptions>()
            .BindConfiguration(TelemetryIngestOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.AddRouteIQDbContext<TelemetryDbContext>(TelemetryDbContext.Schema);
        builder.AddRouteIQArtifactStore();
        builder.AddRouteIQApiKeyAuth();
        var database = PersistenceExtensions.ResolveDatabase(builder.Configuration, TelemetryDbContext.Schema);
        if (database.Provider == DatabaseProvider.PostgreSql)
        {
            builder.Services.AddKeyedSingleton(nameof(TelemetryIngest), (_, _) => NpgsqlDataSource.Create(database.ConnectionString));
            builder.Services.AddSingleton<IDecisionWriter>(sp => new PostgresDecisionWriter(
                sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(TelemetryIngest)), database.Schema, sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<IOptions<TelemetryIngestOptions>>().Value.DirectCopy));
        }
        else
        {
            builder.Services.AddSingleton<IDecisionWriter>(sp => new SqliteDecisionWriter(database.ConnectionString, sp.GetRequiredService<TimeProvider>()));
        }

        builder.Services.AddSingleton(sp => new DecisionParser(
            sp.GetRequiredService<IOptions<TelemetryIngestOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(sp => new FeedbackParser(
            sp.GetRequiredService<IOptions<TelemetryIngestOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<IngestMetrics>();
        builder.Services.AddSingleton<IngestService>();
        builder.Services.AddSingleton<CoalescingIngest>();
        builder.Services.AddSingleton<OtlpTraceReceiver>();
        builder.Services.AddSingleton<JsonlImporter>();
        // No redirects: a 3xx to another host would step around the host allow-list.
        builder.Services.AddHttpClient<JaegerImporter>(c => c.Timeout = TimeSpan.FromMinutes(5))
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false });
        builder.Services.AddSingleton<TelemetrySummaryQuery>();
        builder.Services.AddScoped<DatasetBuilder>();
        builder.Services.AddSingleton<RejectedRetention>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RejectedRetention>());
        builder.AddDriftStatistics();

        var rabbit = builder.Configuration.GetConnectionString("RabbitMq");
        if (!string.IsNullOrWhiteSpace(rabbit))
        {
            var endpoint = RabbitMqEndpoint.Parse(rabbit, BusSettings.ConnectionStringKey);
            builder.Services.AddSingleton(sp => ActivatorUtilities.CreateInstance<RabbitMqDecisionConsumer>(sp, endpoint));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<RabbitMqDecisionConsumer>());
            builder.Services.AddHealthChecks().Add(new HealthCheckRegistration("telemetry-rabbitmq-input",
                sp => sp.GetRequiredService<RabbitMqDecisionConsumer>(), HealthStatus.Degraded, ["ready"]));
        }
        return builder;
    }

    public static IEndpointRouteBuilder MapTelemetryIngestApi(this IEndpointRouteBuilder endpoints)
    {
        // Not under /admin: collectors and gateways export here with an ingest key (RouteIQ:Telemetry:IngestKeys), not an admin key.
        endpoints.MapPost("/v1/traces", (HttpContext context, OtlpTraceReceiver receiver) => receiver.HandleAsync(context))
            .DescribeBody(typeof(byte[]), "application/x-protobuf", "application/json")
            .Produces<byte[]>(StatusCodes.Status200OK, "application/x-protobuf", "application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .RequireApiKey(ApiKeyAuthentication.IngestPolicy)
            .WithName("OtlpTraces")
            .WithSummary("OTLP/HTTP trace export (protobuf or JSON, gzip); routeiq.router_decision.v1 span events are stored")
            .DisableAntiforgery();

        endpoints.MapPost("/v1/feedback", PostFeedbackAsync)
            .DescribeBody(typeof(string), "application/x-ndjson", "application/json").ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .RequireApiKey(ApiKeyAuthentication.IngestPolicy)
            .WithName("IngestFeedback")
            .WithSummary("Ingest routeiq.router_feedback.v1 grades: NDJSON or a JSON array (≤ 1 MiB per request); duplicates by feedback_id are dropped")
            .DisableAntiforgery();

        // An ingest route under /admin: outside the admin group, whose admin policy would add to the ingest one.
        endpoints.MapPost("/admin/telemetry/events", PostEventsAsync)
            .DescribeBody(typeof(string), "application/x-ndjson", "application/json").ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .RequireApiKey(ApiKeyAuthentication.IngestPolicy)
            .WithTags("telemetry")
            .WithName("IngestTelemetryEvents")
            .WithSummary("Ingest JSONL/NDJSON or a JSON array of events (≤ 1 MiB per request): decisions and grades, told apart by contract_name");

        var admin = endpoints.MapGroup("/admin").WithTags("telemetry").RequireApiKey(ApiKeyAuthentication.AdminPolicy);
        admin.MapPost("/telemetry/jaeger", PostJaegerAsync).DescribeBody(typeof(JaegerImportRequest))
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status502BadGateway)
            .WithName("IngestJaeger")
            .WithSummary("Backfill decisions from a Jaeger query service");
        admin.MapGet("/telemetry/summary", GetSummaryAsync).ProducesProblem(StatusCodes.Status400BadRequest)
            .WithName("TelemetrySummary")
            .WithSummary("Counts by model, strategy and outcome, latency percentiles, token sums, rejections by reason");
        admin.MapGet("/telemetry/rejected", GetRejectedAsync).ProducesProblem(StatusCodes.Status400BadRequest)
            .WithName("RejectedEvents")
            .WithSummary("The most recent rejected events with their reason and raw body");
        admin.MapPost("/datasets", PostDatasetAsync).DescribeBody(typeof(DatasetRequest))
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict)
            .WithName("BuildDataset")
            .WithSummary("Build an LLMRouter dataset from stored decisions and publish DatasetBuilt");
        admin.MapGet("/datasets", ListDatasetsAsync)
            .WithName("ListDatasets")
            .WithSummary("Datasets built so far, newest first");
        admin.MapGet("/datasets/{id}", GetDatasetAsync).ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound)
            .WithName("GetDataset")
            .WithSummary("One dataset: files, counts and conversion metadata");
        return endpoints;
    }

    private static Task<Results<Ok<IngestReport>, ProblemHttpResult>> PostEventsAsync(HttpRequest request, JsonlImporter importer, CancellationToken cancellationToken)
        => ImportBodyAsync(request, importer, EventKinds.Any, cancellationToken);

    private static Task<Results<Ok<IngestReport>, ProblemHttpResult>> PostFeedbackAsync(HttpRequest request, JsonlImporter importer, CancellationToken cancellationToken)
        => ImportBodyAsync(request, importer, EventKinds.Feedback, cancellationToken);

    private static async Task<Results<Ok<IngestReport>, ProblemHttpResult>> ImportBodyAsync(HttpRequest request, JsonlImporter importer, EventKinds kinds, CancellationToken cancellationToken)
    {
        byte[] body;
        try
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, cancellationToken);
            body = buffer.ToArray();
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Problem(413, "body", "request body over the 1 MiB limit; send files in chunks");
        }
        var first = body.AsSpan().TrimStart(" \t\r\n\uFEFF"u8);
        try
        {
            var report = first.Length > 0 && first[0] == (byte)'['
                ? await importer.ImportArrayAsync(body, IngestSources.Http, cancellationToken, kinds)
                : await importer.ImportAsync(new MemoryStream(body, writable: false), IngestSources.Http, kinds, cancellationToken);
            return TypedResults.Ok(report);
        }
        catch (FormatException ex)
        {
            return Problem(400, "body", ex.Message);
        }
    }

    private static async Task<Results<Ok<IngestReport>, ProblemHttpResult>> PostJaegerAsync(HttpRequest request, JaegerImporter importer, TimeProvider time, CancellationToken cancellationToken)
    {
        var body = await ReadJsonAsync<JaegerImportRequest>(request, cancellationToken);
        if (body.Error is { } error)
        {
            return error;
        }
        var r = body.Value!;
        if (!Uri.TryCreate(r.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            return Problem(400, "url", "must be an absolute http(s) URL of a Jaeger query service");
        }
        if (string.IsNullOrWhiteSpace(r.Service))
        {
            return Problem(400, "service", "is required");
        }
        var end = r.End ?? time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
        var start = r.Start ?? end - 3_600_000_000L;
        if (start >= end)
        {
            return Problem(400, "start", "must be before end (epoch microseconds)");
        }
        if (r.Limit is < 1 or > 100_000)
        {
            return Problem(400, "limit", "must be between 1 and 100000");
        }
        try
        {
            var report = await importer.ImportAsync(new JaegerQuery(url, r.Service, start, end, r.Limit ?? 1000), null, cancellationToken);
            return TypedResults.Ok(report);
        }
        catch (JaegerHostNotAllowedException ex)
        {
            return Problem(400, "url", ex.Message);
        }
        catch (JaegerImportException ex)
        {
            // Only the status (or that none came back): never addresses or socket errors.
            return Problem(502, "url", ex.Message);
        }
    }

    private static async Task<Results<Ok<TelemetrySummary>, ProblemHttpResult>> GetSummaryAsync(string? since, string? until, TelemetrySummaryQuery query, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!TryParseTime(since, out var from))
        {
            return Problem(400, "since", "must be an ISO 8601 timestamp or epoch milliseconds (years 1–9999)");
        }
        if (!TryParseTime(until, out var to))
        {
            return Problem(400, "until", "must be an ISO 8601 timestamp or epoch milliseconds (years 1–9999)");
        }
        var end = to ?? time.GetUtcNow();
        var start = from ?? DateTimeOffset.UnixEpoch;
        if (start >= end)
        {
            return Problem(400, "since", "must be before until");
        }
        return TypedResults.Ok(await query.GetAsync(start, end, cancellationToken));
    }

    private static async Task<Results<Ok<List<RejectedEvent>>, ProblemHttpResult>> GetRejectedAsync(int? limit, IDbContextFactory<TelemetryDbContext> contexts, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > 1000)
        {
            return Problem(400, "limit", "must be between 1 and 1000");
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.RejectedEvents.AsNoTracking().OrderByDescending(r => r.Id).Take(limit ?? 100)
            .Select(r => new RejectedEvent(r.Id, DateTimeOffset.FromUnixTimeMilliseconds(r.ReceivedAtMs), r.Source, r.Reason, r.RawBody))
            .ToListAsync(cancellationToken);
        return TypedResults.Ok(rows);
    }

    private static async Task<Results<Created<DatasetInfo>, ProblemHttpResult>> PostDatasetAsync(HttpRequest request, DatasetBuilder builder, CancellationToken cancellationToken)
    {
        var body = await ReadJsonAsync<DatasetRequest>(request, cancellationToken, allowEmpty: true);
        if (body.Error is { } error)
        {
            return error;
        }
        try
        {
            var info = await builder.BuildAsync(body.Value ?? new DatasetRequest(), null, cancellationToken);
            return TypedResults.Created($"/admin/datasets/{info.DatasetId}", info);
        }
        catch (DatasetRequestException ex)
        {
            return Problem(400, ex.Field, ex.Message);
        }
        catch (DatasetConflictException ex)
        {
            return Problem(409, "dataset_id", ex.Message);
        }
    }

    private static async Task<Ok<List<DatasetInfo>>> ListDatasetsAsync(IDbContextFactory<TelemetryDbContext> contexts, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.Datasets.AsNoTracking().OrderByDescending(d => d.CreatedAtMs).ThenBy(d => d.DatasetId).ToListAsync(cancellationToken);
        return TypedResults.Ok(rows.Select(r => ToInfo(r, withMetadata: false)).ToList());
    }

    private static async Task<Results<Ok<DatasetInfo>, ProblemHttpResult>> GetDatasetAsync(string id, IDbContextFactory<TelemetryDbContext> contexts, CancellationToken cancellationToken)
    {
        if (Artifacts.Identifiers.Problem(id, "id") is { } problem)
        {
            return Problem(400, "id", problem);
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Datasets.AsNoTracking().FirstOrDefaultAsync(d => d.DatasetId == id, cancellationToken);
        return row is null
            ? Problem(404, "id", $"dataset '{id}' not found")
            : TypedResults.Ok(ToInfo(row, withMetadata: true));
    }

    private static DatasetInfo ToInfo(DatasetRow row, bool withMetadata)
    {
        using var metadata = JsonDocument.Parse(row.MetadataJson);
        var files = new List<Contracts.ArtifactFile>();
        if (metadata.RootElement.TryGetProperty("sha256", out var hashes))
        {
            foreach (var file in hashes.EnumerateObject())
            {
                files.Add(new Contracts.ArtifactFile(file.Name, file.Value.GetString() ?? "", -1));
            }
        }
        return new DatasetInfo
        {
            DatasetId = row.DatasetId,
            Uri = row.Uri,
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(row.CreatedAtMs),
            TotalRecords = row.TotalRecords,
            TrainRecords = row.TrainRecords,
            TestRecords = row.TestRecords,
            UniqueQueries = row.UniqueQueries,
            Files = files,
            Metadata = withMetadata ? metadata.RootElement.Clone() : null,
        };
    }

    private static async Task<(T? Value, ProblemHttpResult? Error)> ReadJsonAsync<T>(HttpRequest request, CancellationToken cancellationToken, bool allowEmpty = false)
        where T : class
    {
        try
        {
            if (allowEmpty && request.ContentLength == 0)
            {
                return (null, null);
            }
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, TelemetryJson.Options, cancellationToken);
            return value is null && !allowEmpty ? (null, Problem(400, "body", "a JSON object is required")) : (value, null);
        }
        catch (JsonException ex)
        {
            var field = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "body" : ex.Path.TrimStart('$', '.');
            return (null, Problem(400, field, $"invalid JSON ({ex.Message.Split(" Path:")[0]})"));
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Problem(413, "body", "request body over the 1 MiB limit"));
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // Strings are transcoded lazily: invalid UTF-8 surfaces here, not as a JsonException.
            return (null, Problem(400, "body", "request body is not valid UTF-8 JSON"));
        }
    }

    /// <summary>One row of <c>GET /admin/telemetry/rejected</c>: what was refused, from where, why, and its raw body.</summary>
    public sealed record RejectedEvent(long Id, DateTimeOffset ReceivedAt, string Source, string Reason, string? RawBody);

    private static bool TryParseTime(string? text, out DateTimeOffset? value)
    {
        value = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms))
        {
            // FromUnixTimeMilliseconds throws outside years 1–9999: out of range is bad input, not a 500.
            if (ms < DateTimeOffset.MinValue.ToUnixTimeMilliseconds() || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
            {
                return false;
            }
            value = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            return true;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            value = parsed;
            return true;
        }
        return false;
    }

    private static ProblemHttpResult Problem(int status, string field, string detail)
        => TypedResults.Problem(statusCode: status, detail: detail, extensions: new Dictionary<string, object?>
        {
            ["error"] = detail,
            ["field"] = field,
        });
}
