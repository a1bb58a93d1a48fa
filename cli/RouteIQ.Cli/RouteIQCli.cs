using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using RouteIQ.ServiceDefaults;
using Spectre.Console;

namespace RouteIQ.Cli;

/// <summary><c>routeiq</c>: <c>up</c> and <c>demo</c> run everything in this process; the other verbs call the admin API.</summary>
public static class RouteIQCli
{
    private static readonly Option<string> ServerOption = new("--server")
    {
        Description = "Admin API base URL (env ROUTEIQ_SERVER)",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ROUTEIQ_SERVER") ?? EmbeddedHost.DefaultUrl,
    };

    private static readonly Option<string?> ApiKeyOption = new("--api-key")
    {
        Description = "Admin API key (env ROUTEIQ_API_KEY)",
        Recursive = true,
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ROUTEIQ_API_KEY"),
    };

    private static readonly Option<bool> JsonOption = new("--json") { Description = "Print raw JSON for scripts", Recursive = true };

    public static async Task<int> Main(string[] args)
    {
        var root = BuildCommand();
        try
        {
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (HttpRequestException ex) when (ex.StatusCode is null)
        {
            Output.Error($"cannot reach the admin API: {ex.Message}");
            return ExitCodes.Unreachable;
        }
    }

    public static RootCommand BuildCommand()
    {
        var root = new RootCommand("RouteIQ MLOps control plane: train, register, roll out and roll back routing models.");
        root.Options.Add(ServerOption);
        root.Options.Add(ApiKeyOption);
        root.Options.Add(JsonOption);

        root.Subcommands.Add(UpCommand());
        root.Subcommands.Add(DemoCommand.Build());
        root.Subcommands.Add(TrainCommand());
        root.Subcommands.Add(RollCommand());
        root.Subcommands.Add(RollbackCommand());
        root.Subcommands.Add(SimpleGet("status", "The active deployment", "status"));
        root.Subcommands.Add(JobsCommand());
        root.Subcommands.Add(LogsCommand());
        root.Subcommands.Add(SimpleGet("trainers", "Trainer specs (secrets redacted) and load errors", "admin/trainers"));
        root.Subcommands.Add(SimpleGet("deployments", "Deployment history", "admin/deployments"));
        root.Subcommands.Add(IngestCommand());
        root.Subcommands.Add(DatasetCommand());
        return root;
    }

    private static Command UpCommand()
    {
        var urls = new Option<string>("--urls") { Description = "Where the admin API listens", DefaultValueFactory = _ => EmbeddedHost.DefaultUrl };
        var command = new Command("up", "Run all four services in this process on the embedded defaults (in-memory bus, SQLite, file artifacts, local processes)");
        command.Options.Add(urls);
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, _) => RouteIQHost.RunAsync(() =>
        {
            var app = EmbeddedHost.Build(["--urls", parse.GetValue(urls)!, .. parse.UnmatchedTokens]);
            app.Lifetime.ApplicationStarted.Register(() => PrintWhere(app));
            return app;
        }));
        return command;
    }

    internal static void PrintWhere(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var settings = app.Services.GetRequiredService<BusSettings>();
        var store = app.Services.GetRequiredService<RouteIQ.Artifacts.IArtifactStore>();
        var config = app.Configuration;
        var admin = addresses.FirstOrDefault() ?? EmbeddedHost.DefaultUrl;
        Console.WriteLine($"routeiq up: admin API        {string.Join(", ", addresses)}  (OpenAPI UI: {admin}/scalar/v1)");
        Console.WriteLine($"routeiq up: stable endpoint  {config["RouteIQ:Rollout:PublicUrl"] ?? "http://127.0.0.1:9000"}");
        Console.WriteLine($"routeiq up: bus              {(settings.RabbitMq?.ToString() ?? "in-memory")}");
        Console.WriteLine($"routeiq up: database         {(string.IsNullOrEmpty(config.GetConnectionString("RouteIQ")) ? "SQLite in " + Path.GetFullPath(config["RouteIQ:DataDir"] ?? "./.routeiq") : "PostgreSQL")}");
        Console.WriteLine($"routeiq up: artifacts        {store.Root}");
        Console.WriteLine($"routeiq up: workloads        {config["RouteIQ:Workloads:Launcher"] ?? "Process"}");
        Console.WriteLine($"routeiq up: trainer specs    {Path.GetFullPath(config["RouteIQ:Specs:Path"] ?? config["SPECS_PATH"] ?? "./trainer-specs")}");
        Console.WriteLine($"routeiq up: health           {admin}/health/ready");
    }

    private static Command TrainCommand()
    {
        var trainer = new Argument<string>("trainer") { Description = "Trainer spec name" };
        var imageKey = new Option<string?>("--image-key") { Description = "Select an image from the spec's image_options" };
        var param = new Option<string[]>("--param", "-p") { Description = "Parameter override K=V (V parsed as JSON when it is JSON: numbers, booleans, null, lists, objects)", AllowMultipleArgumentsPerToken = false };
        var waitSeconds = new Option<int?>("--wait-seconds") { Description = "Training timeout in seconds (1..86400)" };
        var thenRoll = new Option<bool>("--then-roll") { Description = "Roll the produced version out when training succeeds" };
        var isAsync = new Option<bool>("--async") { Description = "Return the job id at once instead of waiting" };
        var command = new Command("train", "Launch a trainer and wait for it (live progress)") { trainer, imageKey, param, waitSeconds, thenRoll, isAsync };
        command.SetAction(async (parse, ct) =>
        {
            var body = new JsonObject();
            if (parse.GetValue(imageKey) is { } key)
            {
                body["image_key"] = key;
            }
            if (parse.GetValue(waitSeconds) is { } wait)
            {
                body["wait_seconds"] = wait;
            }
            var parameters = new JsonObject();
            foreach (var pair in parse.GetValue(param) ?? [])
            {
                var eq = pair.IndexOf('=');
                if (eq <= 0)
                {
                    Output.Error($"--param '{pair}' must look like NAME=VALUE");
                    return ExitCodes.Usage;
                }
                parameters[pair[..eq]] = ParseParamValue(pair[(eq + 1)..]);
            }
            if (parameters.Count > 0)
            {
                body["parameters"] = parameters;
            }
            var path = (parse.GetValue(thenRoll) ? "admin/train_then_roll/" : "admin/train/") + Uri.EscapeDataString(parse.GetValue(trainer)!);
            return await SubmitAndFollowAsync(parse, path, body, parse.GetValue(isAsync), ct);
        });
        return command;
    }

    /// <summary>A value that parses as JSON is sent as that JSON (42, true, null, [..], {..}); anything else as a string.</summary>
    internal static JsonNode? ParseParamValue(string text)
    {
        if (text.Length > 0 && (char.IsDigit(text[0]) || text[0] is '-' or '[' or '{' or '"' || text is "true" or "false" or "null"))
        {
            try
            {
                return JsonNode.Parse(text);
            }
            catch (JsonException)
            {
            }
        }
        return JsonValue.Create(text);
    }

    private static Command RollCommand()
    {
        var model = new Argument<string>("model") { Description = "Registered model name" };
        var reference = new Argument<string>("ref") { Description = "@alias or an integer version" };
        var serveImage = new Option<string?>("--serve-image") { Description = "Serving image (default: the one resolved at training)" };
        var waitReady = new Option<int?>("--wait-ready-seconds") { Description = "How long the candidate may take to answer /ping (1..900, default 90)" };
        var isAsync = new Option<bool>("--async") { Description = "Return the job id at once" };
        var command = new Command("roll", "Roll a registered version out behind the stable endpoint") { model, reference, serveImage, waitReady, isAsync };
        command.SetAction(async (parse, ct) =>
        {
            var refText = parse.GetValue(reference)!;
            var body = new JsonObject
            {
                ["name"] = parse.GetValue(model),
                ["ref"] = int.TryParse(refText, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : refText,
            };
            AddRollOptions(parse, body, serveImage, waitReady);
            return await SubmitAndFollowAsync(parse, "admin/roll", body, parse.GetValue(isAsync), ct);
        });
        return command;
    }

    private static Command RollbackCommand()
    {
        var serveImage = new Option<string?>("--serve-image") { Description = "Serving image override" };
        var waitReady = new Option<int?>("--wait-ready-seconds") { Description = "How long the candidate may take to answer /ping" };
        var command = new Command("rollback", "Roll back to the previous deployment (twice toggles back)") { serveImage, waitReady };
        command.SetAction(async (parse, ct) =>
        {
            var body = new JsonObject();
            AddRollOptions(parse, body, serveImage, waitReady);
            return await SubmitAndFollowAsync(parse, "admin/rollback", body, false, ct);
        });
        return command;
    }

    private static void AddRollOptions(ParseResult parse, JsonObject body, Option<string?> serveImage, Option<int?> waitReady)
    {
        if (parse.GetValue(serveImage) is { } image)
        {
            body["serve_image"] = image;
        }
        if (parse.GetValue(waitReady) is { } wait)
        {
            body["wait_ready_seconds"] = wait;
        }
    }

    private static Command JobsCommand()
    {
        var trainer = new Option<string?>("--trainer") { Description = "Only this trainer's jobs" };
        var state = new Option<string?>("--state") { Description = "queued | running | succeeded | failed | cancelled | lost" };
        var command = new Command("jobs", "List jobs, newest first") { trainer, state };
        var show = new Command("show", "One job with its result or error") { new Argument<string>("id") };
        show.SetAction((parse, ct) => GetAsync(parse, $"admin/jobs/{Uri.EscapeDataString(parse.GetValue<string>("id")!)}", ct));
        var cancel = new Command("cancel", "Cancel a job: its workload is stopped and removed") { new Argument<string>("id") };
        cancel.SetAction((parse, ct) => SendAsync(parse, HttpMethod.Delete, $"admin/jobs/{Uri.EscapeDataString(parse.GetValue<string>("id")!)}", null, ct));
        command.Subcommands.Add(show);
        command.Subcommands.Add(cancel);
        command.SetAction((parse, ct) =>
        {
            var query = new List<string>();
            if (parse.GetValue(trainer) is { } t)
            {
                query.Add("trainer=" + Uri.EscapeDataString(t));
            }
            if (parse.GetValue(state) is { } s)
            {
                query.Add("state=" + Uri.EscapeDataString(s));
            }
            return GetAsync(parse, "admin/jobs" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), ct);
        });
        return command;
    }

    private static Command LogsCommand()
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Stream the log until the job ends" };
        var command = new Command("logs", "A job's log (tail while it runs; full log afterwards)") { job, follow };
        command.SetAction(async (parse, ct) =>
        {
            using var client = Client(parse);
            var path = $"admin/jobs/{Uri.EscapeDataString(parse.GetValue(job)!)}/logs" + (parse.GetValue(follow) ? "?follow=true" : "");
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Accept.Clear();
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/plain"));
            using var response = await client.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                Output.Error($"HTTP {(int)response.StatusCode}: {text}");
                return ExitCodes.FromStatus(response.StatusCode);
            }
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            await stream.CopyToAsync(Console.OpenStandardOutput(), ct);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command IngestCommand()
    {
        var command = new Command("ingest", "Ingest routing telemetry (routeiq.router_decision.v1)");

        var path = new Argument<FileInfo>("path") { Description = "JSONL file, one event per line" };
        var batch = new Option<int>("--batch-lines") { Description = "Lines per request", DefaultValueFactory = _ => 2000 };
        var file = new Command("file", "Ingest a JSONL file through the admin API, with a progress bar") { path, batch };
        file.SetAction((parse, ct) => IngestFileAsync(parse, parse.GetValue(path)!, parse.GetValue(batch), ct));

        var url = new Option<string>("--url") { Description = "Jaeger query base URL, e.g. http://127.0.0.1:16686", Required = true };
        var service = new Option<string>("--service") { Description = "Jaeger service name", Required = true };
        var start = new Option<long?>("--start") { Description = "Start, epoch microseconds (default: 24 h ago)" };
        var end = new Option<long?>("--end") { Description = "End, epoch microseconds (default: now)" };
        var limit = new Option<int>("--limit") { Description = "Max traces", DefaultValueFactory = _ => 1000 };
        var jaeger = new Command("jaeger", "Backfill from a Jaeger query service") { url, service, start, end, limit };
        jaeger.SetAction((parse, ct) =>
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
            var body = new JsonObject
            {
                ["url"] = parse.GetValue(url),
                ["service"] = parse.GetValue(service),
                ["start"] = parse.GetValue(start) ?? now - 86_400_000_000L,
                ["end"] = parse.GetValue(end) ?? now,
                ["limit"] = parse.GetValue(limit),
            };
            return SendAsync(parse, HttpMethod.Post, "admin/telemetry/jaeger", body, ct);
        });

        command.Subcommands.Add(file);
        command.Subcommands.Add(jaeger);
        return command;
    }

    private static async Task<int> IngestFileAsync(ParseResult parse, FileInfo file, int batchLines, CancellationToken ct)
    {
        if (!file.Exists)
        {
            Output.Error($"file not found: {file.FullName}");
            return ExitCodes.Usage;
        }
        using var client = Client(parse);
        var output = Out(parse);
        long accepted = 0, rejected = 0, duplicates = 0;
        var failure = (ApiResponse?)null;

        async Task RunAsync(Action<long> progress)
        {
            using var reader = new StreamReader(file.OpenRead(), Encoding.UTF8);
            var chunk = new StringBuilder();
            var lines = 0;
            string? line;
            while ((line = await reader.ReadLineAsync(ct)) is not null)
            {
                var lineBytes = Encoding.UTF8.GetByteCount(line) + 1;
                if (lines > 0 && (lines >= batchLines || chunk.Length + lineBytes > 900_000))
                {
                    if (!await FlushAsync(chunk))
                    {
                        return;
                    }
                    lines = 0;
                }
                chunk.Append(line).Append('\n');
                lines++;
                progress(reader.BaseStream.Position);
            }
            if (lines > 0)
            {
                await FlushAsync(chunk);
            }
            progress(file.Length);
        }

        async Task<bool> FlushAsync(StringBuilder chunk)
        {
            using var content = new StringContent(chunk.ToString(), Encoding.UTF8, "application/x-ndjson");
            chunk.Clear();
            using var response = await client.Http.PostAsync("admin/telemetry/events", content, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            var body = text.Length > 0 ? JsonNode.Parse(text) : null;
            if (!response.IsSuccessStatusCode)
            {
                failure = new ApiResponse(response.StatusCode, body, null, text);
                return false;
            }
            accepted += Count(body, "stored");
            rejected += Count(body, "rejected");
            duplicates += Count(body, "duplicates");
            return true;
        }

        if (output.Json)
        {
            await RunAsync(_ => { });
        }
        else
        {
            await output.Console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var task = ctx.AddTask(Markup.Escape(file.Name), maxValue: Math.Max(1, file.Length));
                    await RunAsync(p => task.Value = p);
                });
        }
        if (failure is not null)
        {
            Output.Error(failure.ErrorMessage());
            return ExitCodes.FromStatus(failure.Status);
        }
        output.Write(new JsonObject { ["file"] = file.FullName, ["stored"] = accepted, ["duplicates"] = duplicates, ["rejected"] = rejected });
        return ExitCodes.Ok;
    }

    private static long Count(JsonNode? body, params string[] keys)
    {
        foreach (var key in keys)
        {
            if (body?[key] is JsonValue v && v.TryGetValue<long>(out var n))
            {
                return n;
            }
        }
        return 0;
    }

    private static Command DatasetCommand()
    {
        var command = new Command("dataset", "Training datasets built from stored telemetry");
        var since = new Option<DateTimeOffset?>("--since") { Description = "Window start (ISO 8601)" };
        var until = new Option<DateTimeOffset?>("--until") { Description = "Window end (ISO 8601)" };
        var testSplit = new Option<double?>("--test-split") { Description = "Share of queries in the test split (default 0.2)" };
        var seed = new Option<int?>("--seed") { Description = "Split seed" };
        var id = new Option<string?>("--id") { Description = "Dataset id (default: generated)" };
        var metadata = new Option<bool>("--routing-metadata") { Description = "Add routing metadata columns" };
        var build = new Command("build", "Build an LLMRouter dataset into datasets/{id}/") { since, until, testSplit, seed, id, metadata };
        build.SetAction((parse, ct) =>
        {
            var body = new JsonObject();
            if (parse.GetValue(since) is { } s) body["since"] = s;
            if (parse.GetValue(until) is { } u) body["until"] = u;
            if (parse.GetValue(testSplit) is { } t) body["test_split"] = t;
            if (parse.GetValue(seed) is { } sd) body["seed"] = sd;
            if (parse.GetValue(id) is { } i) body["dataset_id"] = i;
            if (parse.GetValue(metadata)) body["include_routing_metadata"] = true;
            return SendAsync(parse, HttpMethod.Post, "admin/datasets", body, ct);
        });
        var list = new Command("list", "Datasets built so far");
        list.SetAction((parse, ct) => GetAsync(parse, "admin/datasets", ct));
        command.Subcommands.Add(build);
        command.Subcommands.Add(list);
        return command;
    }

    private static Command SimpleGet(string name, string description, string path)
    {
        var command = new Command(name, description);
        command.SetAction((parse, ct) => GetAsync(parse, path, ct));
        return command;
    }

    private static AdminClient Client(ParseResult parse) => AdminClient.Create(parse.GetValue(ServerOption)!, parse.GetValue(ApiKeyOption));

    private static Output Out(ParseResult parse) => new(parse.GetValue(JsonOption), AnsiConsole.Console);

    private static Task<int> GetAsync(ParseResult parse, string path, CancellationToken ct) => SendAsync(parse, HttpMethod.Get, path, null, ct);

    private static async Task<int> SendAsync(ParseResult parse, HttpMethod method, string path, JsonNode? body, CancellationToken ct)
    {
        using var client = Client(parse);
        var response = await client.SendAsync(method, path, body, cancellationToken: ct);
        if (!response.Ok)
        {
            Output.Error(response.ErrorMessage());
            if (parse.GetValue(JsonOption))
            {
                Console.Out.WriteLine(response.Text);
            }
            return ExitCodes.FromStatus(response.Status);
        }
        Out(parse).Write(response.Body);
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Submits with <c>Prefer: respond-async</c>, then follows the job with a live status line
    /// until it ends (or returns at once with <paramref name="returnAtOnce"/>).
    /// </summary>
    private static async Task<int> SubmitAndFollowAsync(ParseResult parse, string path, JsonObject body, bool returnAtOnce, CancellationToken ct)
    {
        using var client = Client(parse);
        var output = Out(parse);
        var headers = new Dictionary<string, string> { ["Prefer"] = "respond-async", ["Idempotency-Key"] = Guid.NewGuid().ToString("N") };
        var submitted = await client.SendAsync(HttpMethod.Post, path, body, headers, ct);
        if (submitted.Status != HttpStatusCode.Accepted)
        {
            // A synchronous answer (an error, or a server that finished at once).
            if (!submitted.Ok)
            {
                Output.Error(submitted.ErrorMessage());
                if (output.Json)
                {
                    Console.Out.WriteLine(submitted.Text);
                }
                return ExitCodes.FromStatus(submitted.Status);
            }
            output.Write(submitted.Body);
            return ExitCodes.Ok;
        }

        var location = submitted.Location ?? (submitted.Body?["job_id"] is { } jid ? $"admin/jobs/{jid.GetValue<string>()}" : null);
        if (returnAtOnce || location is null)
        {
            output.Write(submitted.Body);
            return ExitCodes.Ok;
        }

        ApiResponse job = submitted;
        async Task FollowAsync(Action<string> status)
        {
            var started = DateTimeOffset.UtcNow;
            while (true)
            {
                job = await client.SendAsync(HttpMethod.Get, location, cancellationToken: ct);
                var state = job.Body?["state"]?.GetValue<string>() ?? "unknown";
                status($"{state} · {(DateTimeOffset.UtcNow - started).TotalSeconds:0}s");
                if (!job.Ok || JobStates.IsTerminal(state))
                {
                    return;
                }
                await Task.Delay(500, ct);
            }
        }

        if (output.Json)
        {
            await FollowAsync(_ => { });
        }
        else
        {
            output.Info($"[grey]job[/] {Markup.Escape(location)}");
            await output.Console.Status().StartAsync("submitted", ctx => FollowAsync(s => ctx.Status(Markup.Escape(s))));
        }

        output.Write(job.Body);
        if (!job.Ok)
        {
            return ExitCodes.FromStatus(job.Status);
        }
        return (job.Body?["state"]?.GetValue<string>()) switch
        {
            JobStates.Succeeded => ExitCodes.Ok,
            JobStates.Cancelled => ExitCodes.Cancelled,
            _ => ExitCodes.JobFailed,
        };
    }
}

public static class JobStates
{
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static bool IsTerminal(string state) => state is Succeeded or Failed or Cancelled;
}
