using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using RouteIQ.GatewayAdmin.Ledger;
using RouteIQ.ServiceDefaults;
using Spectre.Console;

namespace RouteIQ.Cli;

/// <summary><c>routeiq</c>: <c>up</c> and <c>demo</c> run everything in this process; the other verbs call the admin API.</summary>
public static partial class RouteIQCli
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

    private static readonly Option<bool> WideOption = new("--wide") { Description = "Tables with every column, nothing shortened", Recursive = true };

    public static async Task<int> Main(string[] args)
    {
        var root = BuildCommand();
        // Response files off: `roll knn-router @production` means the alias, not a file named "production".
        var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            foreach (var message in CliUsage.Messages(parse))
            {
                Output.Error(message);
            }
            var verb = string.Join(' ', CommandPath(parse.CommandResult));
            Output.Error($"see 'routeiq {(verb.Length > 0 ? verb + " " : "")}--help'");
            return ExitCodes.Usage;
        }
        // Ctrl-C cancels the verb's token (a waiting verb then says the job goes on); a second one ends the process.
        using var interrupted = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (!interrupted.IsCancellationRequested)
            {
                e.Cancel = true;
                interrupted.Cancel();
            }
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, interrupted.Token);
        }
        catch (CliUsageException ex)
        {
            Output.Error(ex.Message);
            return ExitCodes.Usage;
        }
        catch (JobNotFoundException ex)
        {
            Output.Error(ex.Message);
            return ExitCodes.Rejected;
        }
        catch (HttpRequestException ex) when (ex.StatusCode is null)
        {
            Output.Error($"cannot reach the admin API at {parse.GetValue(ServerOption)}: {ex.Message}");
            return ExitCodes.Unreachable;
        }
        catch (Exception ex) when (RouteIQHost.FindConfigurationError(ex) is { } message)
        {
            await Console.Error.WriteLineAsync(message);
            return ExitCodes.Usage;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static IEnumerable<string> CommandPath(SymbolResult? result)
    {
        var names = new List<string>();
        for (var r = result as CommandResult; r?.Parent is not null; r = r.Parent as CommandResult)
        {
            names.Insert(0, r.Command.Name);
        }
        return names;
    }

    public static RootCommand BuildCommand()
    {
        var root = new RootCommand("RouteIQ MLOps control plane: train, register, roll out and roll back routing models.");
        root.Options.Add(ServerOption);
        root.Options.Add(ApiKeyOption);
        root.Options.Add(JsonOption);
        root.Options.Add(WideOption);

        root.Subcommands.Add(UpCommand());
        root.Subcommands.Add(DemoCommand.Build());
        root.Subcommands.Add(TrainCommand());
        root.Subcommands.Add(RollCommand());
        root.Subcommands.Add(RollbackCommand());
        root.Subcommands.Add(StatusCommand());
        root.Subcommands.Add(JobsCommand());
        root.Subcommands.Add(LogsCommand());
        root.Subcommands.Add(TrainersCommand());
        root.Subcommands.Add(SimpleGet("deployments", "Deployment history", "admin/deployments"));
        root.Subcommands.Add(RolloutsCommand());
        root.Subcommands.Add(IngestCommand());
        root.Subcommands.Add(FeedbackCommand());
        root.Subcommands.Add(DatasetCommand());
        root.Subcommands.Add(MigrateCommand.Build(JsonOption));
        root.Subcommands.Add(RoutingCommand());
        root.Subcommands.Add(EvaluateCommand.Build(Client, (p, r) => Report(p, r), JsonOption));
        root.Subcommands.Add(ContinuousCommand());
        return root;
    }

    private static Command UpCommand()
    {
        var urls = new Option<string>("--urls") { Description = "Where the admin API listens", DefaultValueFactory = _ => EmbeddedHost.DefaultUrl };
        var command = new Command("up", "Run all four services in this process on the embedded defaults (in-memory bus, SQLite, file artifacts, local processes)");
        command.Options.Add(urls);
        // Configuration keys pass through (--RouteIQ:DataDir=x); anything else unknown is refused.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            if (CliUsage.UnknownOption(parse, command) is { } unknown)
            {
                Output.Error(unknown);
                return ExitCodes.Usage;
            }
            CliUsage.RequireUrls(parse.GetValue(urls)!);
            var (app, code) = await EmbeddedHost.StartAsync(["--urls", parse.GetValue(urls)!, .. parse.UnmatchedTokens], null, ct);
            if (app is null)
            {
                return code;
            }
            await using (app)
            {
                PrintWhere(app);
                await app.WaitForShutdownAsync(CancellationToken.None);
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    internal static void PrintWhere(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var settings = app.Services.GetRequiredService<BusSettings>();
        var store = app.Services.GetRequiredService<RouteIQ.Artifacts.IArtifactStore>();
        var config = app.Configuration;
        var admin = addresses.FirstOrDefault() ?? EmbeddedHost.DefaultUrl;
        var specs = EmbeddedHost.SpecsPath(config);
        Console.WriteLine($"routeiq up: admin API        {string.Join(", ", addresses)}  (OpenAPI UI: {admin}/scalar/v1)");
        Console.WriteLine($"routeiq up: stable endpoint  {config["RouteIQ:Rollout:PublicUrl"] ?? "http://127.0.0.1:9000"}");
        Console.WriteLine($"routeiq up: bus              {(settings.RabbitMq?.ToString() ?? "in-memory")}");
        Console.WriteLine($"routeiq up: database         {(string.IsNullOrEmpty(config.GetConnectionString("RouteIQ")) ? "SQLite in " + Path.GetFullPath(config["RouteIQ:DataDir"] ?? "./.routeiq") : "PostgreSQL")}");
        Console.WriteLine($"routeiq up: artifacts        {store.Root}");
        Console.WriteLine($"routeiq up: workloads        {config["RouteIQ:Workloads:Launcher"] ?? "Process"}");
        Console.WriteLine($"routeiq up: trainer specs    {specs}");
        Console.WriteLine($"routeiq up: health           {admin}/health/ready");
        if (!File.Exists(specs) && !Directory.Exists(specs))
        {
            Console.Error.WriteLine($"routeiq up: WARNING: no trainer specs at {specs}: `train` will answer \"trainer spec not found\". "
                + "Run from the repository (deploy/trainer-specs is found) or set RouteIQ__Specs__Path.");
        }
    }

    private static Command TrainCommand()
    {
        var trainer = new Argument<string>("trainer") { Description = "Trainer spec name" };
        var imageKey = new Option<string?>("--image-key") { Description = "Select an image from the spec's image_options" };
        var param = new Option<string[]>("--param", "-p") { Description = "Parameter override K=V (V parsed as JSON when it is JSON: numbers, booleans, null, lists, objects)", AllowMultipleArgumentsPerToken = false };
        var waitSeconds = WaitSecondsOption();
        var timeout = new Option<int?>("--timeout-seconds") { Description = "Training timeout in seconds (1..86400; default: the spec's timeout)" };
        var thenRoll = new Option<bool>("--then-roll") { Description = "Roll the produced version out when training succeeds" };
        var dataset = new Option<string?>("--dataset") { Description = "Dataset id (from `dataset build`) or URI to train on (default: the spec's, else the latest dataset)" };
        var isAsync = new Option<bool>("--async") { Description = "Return the job id at once instead of waiting (exit 7 while it runs)" };
        var command = new Command("train", "Launch a trainer and wait for it (live progress)") { trainer, imageKey, param, waitSeconds, timeout, thenRoll, dataset, isAsync };
        command.SetAction(async (parse, ct) =>
        {
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
            var name = parse.GetValue(trainer)!;
            using var client = Client(parse);
            var body = new TrainRequest
            {
                ImageKey = parse.GetValue(imageKey),
                WaitSeconds = parse.GetValue(timeout),
                Parameters = parameters.Count > 0 ? parameters : null,
                Dataset = parse.GetValue(dataset) ?? await LatestDatasetAsync(client, name, Out(parse), ct),
            };
            var path = (parse.GetValue(thenRoll) ? "admin/train_then_roll/" : "admin/train/") + Uri.EscapeDataString(name);
            return await SubmitAndFollowAsync(parse, client, path, body, parse.GetValue(isAsync), parse.GetValue(waitSeconds), ct);
        });
        return command;
    }

    private static Option<int?> WaitSecondsOption() => new("--wait-seconds")
    {
        Description = "Wait at most this long for the job, then exit 7 and leave it running (default: until it ends)",
    };

    /// <summary>
    /// A trainer whose spec names no dataset trains on the latest one built (says so on stderr;
    /// the job document's <c>request.dataset</c> records it). Null when the spec has one or none exist.
    /// </summary>
    private static async Task<string?> LatestDatasetAsync(AdminClient client, string trainer, Output output, CancellationToken ct)
    {
        var trainers = await client.SendAsync(HttpMethod.Get, "admin/trainers", cancellationToken: ct);
        if (!trainers.Ok || trainers.Body?["trainers"]?[trainer] is not JsonObject spec || spec["dataset"] is JsonValue)
        {
            return null;
        }
        var datasets = await client.SendAsync(HttpMethod.Get, "admin/datasets", cancellationToken: ct);
        if (!datasets.Ok)
        {
            // Distributed: datasets are telemetry-ingest's; gateway-admin picks the latest itself (the job's resolved.dataset says which).
            return null;
        }
        if (datasets.Body is not JsonArray { Count: > 0 } list || list[0]?["dataset_id"] is not JsonValue id)
        {
            Output.Error($"warning: trainer '{trainer}' names no dataset and none was built yet; build one with `routeiq dataset build` or pass --dataset");
            return null;
        }
        var latest = id.GetValue<string>();
        if (!output.Json)
        {
            Console.Error.WriteLine($"routeiq: training on the latest dataset, {latest} (built {Output.Time(list[0]?["created_at"])}); --dataset picks another");
        }
        return latest;
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
        var waitSeconds = WaitSecondsOption();
        var isAsync = new Option<bool>("--async") { Description = "Return the job id at once (exit 7 while it runs)" };
        var command = new Command("roll", "Roll a registered version out behind the stable endpoint") { model, reference, serveImage, waitReady, waitSeconds, isAsync };
        var canary = AddCanaryOptions(command);
        command.SetAction(async (parse, ct) =>
        {
            var body = new RollRequest
            {
                Name = parse.GetValue(model),
                Ref = parse.GetValue(reference),
                ServeImage = parse.GetValue(serveImage),
                WaitReadySeconds = parse.GetValue(waitReady),
                Promotion = Promotion(parse, canary),
            };
            using var client = Client(parse);
            return await SubmitAndFollowAsync(parse, client, "admin/roll", body, parse.GetValue(isAsync), parse.GetValue(waitSeconds), ct);
        });
        return command;
    }

    /// <summary>The model a verb acts on: <c>routeiq status knn-router</c> or <c>--model knn-router</c>.</summary>
    private static (Argument<string?> Argument, Option<string?> Option) ModelSelector(string what) => (
        new Argument<string?>("model") { Description = $"Registered model name (default: {what})", Arity = ArgumentArity.ZeroOrOne },
        new Option<string?>("--model", "-m") { Description = "Registered model name (same as the argument)" });

    private static string? SelectedModel(ParseResult parse, (Argument<string?> Argument, Option<string?> Option) selector)
        => parse.GetValue(selector.Argument) ?? parse.GetValue(selector.Option);

    private static Command RollbackCommand()
    {
        var selector = ModelSelector("the model of the active deployment");
        var serveImage = new Option<string?>("--serve-image") { Description = "Serving image override" };
        var waitReady = new Option<int?>("--wait-ready-seconds") { Description = "How long the candidate may take to answer /ping" };
        var command = new Command("rollback", "Roll a model back to its previous deployment (twice toggles back)") { selector.Argument, selector.Option, serveImage, waitReady };
        command.SetAction(async (parse, ct) =>
        {
            var body = new RollbackRequest
            {
                Name = SelectedModel(parse, selector),
                ServeImage = parse.GetValue(serveImage),
                WaitReadySeconds = parse.GetValue(waitReady),
            };
            using var client = Client(parse);
            return await SubmitAndFollowAsync(parse, client, "admin/rollback", body, false, null, ct);
        });
        return command;
    }

    private static Command StatusCommand()
    {
        var selector = ModelSelector("the most recent deployment");
        var command = new Command("status", "The active deployment of a model") { selector.Argument, selector.Option };
        command.SetAction((parse, ct) => GetAsync(parse,
            "status" + (SelectedModel(parse, selector) is { } name ? "?name=" + Uri.EscapeDataString(name) : ""), ct));
        return command;
    }

    private static Command TrainersCommand()
    {
        var command = new Command("trainers", "Trainer specs in force (secrets redacted), where they are read from, and load errors");
        command.SetAction(async (parse, ct) =>
        {
            using var client = Client(parse);
            var response = await client.SendAsync(HttpMethod.Get, "admin/trainers", cancellationToken: ct);
            var output = Out(parse);
            if (!response.Ok || output.Json || response.Body is not JsonObject body)
            {
                return Report(parse, response);
            }
            var rows = new JsonArray();
            foreach (var (name, spec) in body["trainers"] as JsonObject ?? [])
            {
                var row = (JsonObject)(spec?.DeepClone() ?? new JsonObject());
                row["name"] = name;
                rows.Add(row);
            }
            output.Line($"specs: {Output.Text(body["path"])}");
            output.WriteList(rows, TableViews.Trainers);
            foreach (var error in body["errors"] as JsonArray ?? [])
            {
                Output.Error($"spec error: {Output.Text(error?["message"])}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command JobsCommand()
    {
        var trainer = new Option<string?>("--trainer") { Description = "Only this trainer's jobs" };
        var state = new Option<string?>("--state") { Description = "queued | running | succeeded | failed | cancelled | lost" };
        var limit = new Option<int?>("--limit") { Description = "At most this many jobs (1..1000, default 100)" };
        var command = new Command("jobs", "List jobs, newest first") { trainer, state, limit };
        var showId = new Argument<string>("id") { Description = "Job id" };
        var show = new Command("show", "One job with its result or error (and the end of its log when it failed)") { showId };
        show.SetAction(async (parse, ct) =>
        {
            var id = JobId(parse.GetValue(showId)!);
            using var client = Client(parse);
            var response = await client.SendAsync(HttpMethod.Get, $"admin/jobs/{id}", cancellationToken: ct);
            var code = Report(parse, response, JobNotFound(id));
            if (response.Ok && response.As<JobDocument>() is { State: JobStates.Failed } failed && !parse.GetValue(JsonOption))
            {
                await PrintFailureAsync(client, failed, ct);
            }
            return code;
        });
        var cancelId = new Argument<string>("id") { Description = "Job id" };
        var cancel = new Command("cancel", "Cancel a job: its workload is stopped and removed") { cancelId };
        cancel.SetAction(async (parse, ct) =>
        {
            var id = JobId(parse.GetValue(cancelId)!);
            using var client = Client(parse);
            return Report(parse, await client.SendAsync(HttpMethod.Delete, $"admin/jobs/{id}", cancellationToken: ct), JobNotFound(id));
        });
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
            if (parse.GetValue(limit) is { } l)
            {
                query.Add("limit=" + l.ToString(CultureInfo.InvariantCulture));
            }
            return GetAsync(parse, "admin/jobs" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), ct);
        });
        return command;
    }

    /// <summary>Job ids are GUIDs; anything else cannot name a job.</summary>
    private static string JobId(string text)
        => Guid.TryParse(text, out var id) ? id.ToString() : throw new JobNotFoundException(text);

    private static string JobNotFound(string id) => $"job '{id}' not found (`routeiq jobs` lists the jobs)";

    /// <summary>An id that cannot be a job's: reported like the API's 404 (exit 5).</summary>
    private sealed class JobNotFoundException(string id) : Exception(JobNotFound(id));

    private static Command LogsCommand()
    {
        var job = new Argument<string>("job") { Description = "Job id" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Stream the log until the job ends" };
        var command = new Command("logs", "A job's log (tail while it runs; full log afterwards)") { job, follow };
        command.SetAction(async (parse, ct) =>
        {
            var id = JobId(parse.GetValue(job)!);
            using var client = Client(parse);
            var path = $"admin/jobs/{id}/logs" + (parse.GetValue(follow) ? "?follow=true" : "");
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Accept.Clear();
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/plain"));
            using var response = await client.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            if (!response.IsSuccessStatusCode)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                var error = new ApiResponse(response.StatusCode, text.Length > 0 && text[0] == '{' ? JsonNode.Parse(text) : null, null, text) { Path = path, KeySent = client.HasKey };
                Output.Error(response.StatusCode == HttpStatusCode.NotFound ? JobNotFound(id) : error.ErrorMessage());
                return ExitCodes.FromStatus(response.StatusCode);
            }
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            var stdout = Console.OpenStandardOutput();
            var buffer = new byte[8192];
            long total = 0;
            int read;
            try
            {
                while ((read = await stream.ReadAsync(buffer, ct)) > 0)
                {
                    await stdout.WriteAsync(buffer.AsMemory(0, read), ct);
                    await stdout.FlushAsync(ct);
                    total += read;
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return ExitCodes.Ok;
            }
            if (total == 0)
            {
                // Roll and rollback jobs run no workload: say what they did instead of printing nothing.
                var document = await client.SendAsync(HttpMethod.Get, $"admin/jobs/{id}", cancellationToken: ct);
                Console.WriteLine(NoLogSummary(document.Body));
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    internal static string NoLogSummary(JsonNode? job)
    {
        var kind = Output.Text(job?["kind"]);
        var state = Output.Text(job?["state"]);
        var head = kind == "train"
            ? $"(no log yet: train job {Output.Text(job?["job_id"])} is {state})"
            : $"({kind} job {Output.Text(job?["job_id"])} runs no workload, so it has no log; it is {state})";
        var detail = job?["result"] is JsonObject r
            ? $"\n{Output.Text(r["name"])} v{Output.Text(r["version"])} ({Output.Text(r["alias"])}) active at {Output.Text(r["public_url"])}, served by {Output.Text(r["url"])}"
            : job?["error"] is JsonObject e ? "\nerror: " + TableViews.ErrorText(e) : "";
        return head + detail;
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
            var body = new JaegerImportRequest
            {
                Url = parse.GetValue(url),
                Service = parse.GetValue(service),
                Start = parse.GetValue(start) ?? now - 86_400_000_000L,
                End = parse.GetValue(end) ?? now,
                Limit = parse.GetValue(limit),
            };
            return SendAsync(parse, HttpMethod.Post, "admin/telemetry/jaeger", body, ct);
        });

        var rejectedLimit = new Option<int?>("--limit") { Description = "At most this many, newest first (1..1000, default 100)" };
        var rejected = new Command("rejected", "Rejected telemetry: when, from where, and why") { rejectedLimit };
        rejected.SetAction(async (parse, ct) =>
        {
            using var client = Client(parse);
            var query = parse.GetValue(rejectedLimit) is { } l ? "?limit=" + l.ToString(CultureInfo.InvariantCulture) : "";
            return Report(parse, Wrapped(await client.SendAsync(HttpMethod.Get, "admin/telemetry/rejected" + query, cancellationToken: ct), "rejected"));
        });

        command.Subcommands.Add(file);
        command.Subcommands.Add(jaeger);
        command.Subcommands.Add(rejected);
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
        long accepted = 0, rejected = 0, duplicates = 0, linesSent = 0;
        var failure = (ApiResponse?)null;
        var rejections = new JsonArray();

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
                    if (!await FlushAsync(chunk, lines))
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
                await FlushAsync(chunk, lines);
            }
            progress(file.Length);
        }

        async Task<bool> FlushAsync(StringBuilder chunk, int lines)
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
            // Each rejection's index counts the lines of its request (0-based): report file line numbers.
            foreach (var r in body?["rejections"] as JsonArray ?? [])
            {
                if (rejections.Count < 100 && r?["index"] is JsonValue index && index.TryGetValue<long>(out var i))
                {
                    rejections.Add(new JsonObject { ["line"] = linesSent + i + 1, ["reason"] = r["reason"]?.DeepClone() });
                }
            }
            linesSent += lines;
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
        var report = new JsonObject { ["file"] = file.FullName, ["stored"] = accepted, ["duplicates"] = duplicates, ["rejected"] = rejected };
        if (output.Json)
        {
            report["rejections"] = rejections;
        }
        output.Write(report);
        foreach (var r in rejections)
        {
            output.Line($"rejected line {r!["line"]}: {Output.Text(r["reason"])}");
        }
        if (rejected > rejections.Count && !output.Json)
        {
            output.Line($"… {rejected - rejections.Count} more; `routeiq ingest rejected` lists every rejection with its reason");
        }
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
        list.SetAction(async (parse, ct) =>
        {
            using var client = Client(parse);
            return Report(parse, Wrapped(await client.SendAsync(HttpMethod.Get, "admin/datasets", cancellationToken: ct), "datasets"));
        });
        command.Subcommands.Add(build);
        command.Subcommands.Add(list);
        return command;
    }

    private static Command RoutingCommand()
    {
        var model = new Argument<string>("model") { Description = "Registered model name" };
        var reference = new Argument<string?>("ref") { Description = "@alias (default @production: follows rollouts) or a version (pinned)", Arity = ArgumentArity.ZeroOrOne };
        var config = new Command("config", "Gateway settings (routing_strategy, model_s3_bucket, model_s3_key, hot_reload, reload_interval) for a model, from the registry") { model, reference };
        config.SetAction(async (parse, ct) =>
        {
            using var client = Client(parse);
            var query = parse.GetValue(reference) is { } r ? "?ref=" + Uri.EscapeDataString(r) : "";
            var response = await client.SendAsync(HttpMethod.Get, $"admin/models/{Uri.EscapeDataString(parse.GetValue(model)!)}/routing-config{query}", cancellationToken: ct);
            if (!response.Ok || parse.GetValue(JsonOption) || response.Body is not JsonObject body)
            {
                return Report(parse, response);
            }
            // YAML, ready to paste into a gateway's configuration.
            foreach (var (key, value) in body)
            {
                if (key is "name" or "version" or "ref" or "model_uri")
                {
                    continue;
                }
                Console.WriteLine($"{key}: {(value is null ? "null" : Output.Text(value))}");
            }
            Console.WriteLine($"# {Output.Text(body["name"])} v{Output.Text(body["version"])} ({Output.Text(body["ref"])}) at {Output.Text(body["model_uri"])}");
            return ExitCodes.Ok;
        });
        var command = new Command("routing", "How RouteIQ gateways load a model");
        command.Subcommands.Add(config);
        return command;
    }

    private static Command SimpleGet(string name, string description, string path)
    {
        var command = new Command(name, description);
        command.SetAction((parse, ct) => GetAsync(parse, path, ct));
        return command;
    }

    private static AdminClient Client(ParseResult parse) => CliServer.Client(parse.GetValue(ServerOption)!, parse.GetValue(ApiKeyOption));

    private static Output Out(ParseResult parse) => new(parse.GetValue(JsonOption), AnsiConsole.Console, parse.GetValue(WideOption), Output.TerminalWidth());

    /// <summary>A bare JSON list as <c>{"name": [...]}</c>, like every other list the CLI prints.</summary>
    private static ApiResponse Wrapped(ApiResponse response, string name)
        => response.Ok && response.Body is JsonArray array ? response with { Body = new JsonObject { [name] = array.DeepClone() } } : response;

    private static async Task<int> GetAsync(ParseResult parse, string path, CancellationToken ct)
    {
        using var client = Client(parse);
        return Report(parse, await client.SendAsync(HttpMethod.Get, path, cancellationToken: ct));
    }

    private static async Task<int> SendAsync(ParseResult parse, HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var client = Client(parse);
        return Report(parse, await client.SendAsync(method, path, body, cancellationToken: ct));
    }

    /// <summary>Prints an answer (or its error, in one line) and returns its exit code.</summary>
    private static int Report(ParseResult parse, ApiResponse response, string? notFound = null)
    {
        var output = Out(parse);
        if (!response.Ok)
        {
            Output.Error(notFound is not null && response.Status == HttpStatusCode.NotFound ? notFound : ErrorWithHint(response));
            if (output.Json && response.Body is not null)
            {
                output.WriteJson(response.Body);
            }
            return ExitCodes.FromStatus(response.Status);
        }
        output.Write(response.Body);
        return ExitCodes.Ok;
    }

    private static string ErrorWithHint(ApiResponse response)
    {
        var message = response.ErrorMessage();
        return response.Body?["error"]?.GetValueKind() == JsonValueKind.String && response.Body["error"]!.GetValue<string>() == "trainer spec not found"
            ? $"{message}: '{Output.Text(response.Body["trainer"])}' (`routeiq trainers` lists the specs in force and the path they are read from)"
            : message;
    }

    /// <summary>
    /// Submits with <c>Prefer: respond-async</c>, then follows the job with a live status line
    /// (state and phase) until it ends, <paramref name="waitSeconds"/> pass, or Ctrl-C; returns at
    /// once with <paramref name="returnAtOnce"/>. A job still running exits 7 and says how to
    /// follow or cancel it; a failed job prints its error and the end of its log.
    /// </summary>
    private static async Task<int> SubmitAndFollowAsync(ParseResult parse, AdminClient client, string path, object body, bool returnAtOnce, int? waitSeconds, CancellationToken ct)
    {
        var output = Out(parse);
        var headers = new Dictionary<string, string> { ["Prefer"] = "respond-async", ["Idempotency-Key"] = Guid.NewGuid().ToString("N") };
        var submitted = await client.SendAsync(HttpMethod.Post, path, body, headers, ct);
        if (submitted.Status != HttpStatusCode.Accepted)
        {
            // A synchronous answer (an error, or a server that finished at once).
            return Report(parse, submitted);
        }

        var summary = submitted.As<JobSummary>();
        var location = summary is not null ? $"admin/jobs/{summary.JobId}" : submitted.Location;
        if (returnAtOnce || location is null)
        {
            output.Write(submitted.Body);
            return JobStates.IsTerminal(summary?.State) ? ExitCodes.FromJob(summary!.State, null) : ExitCodes.StillRunning;
        }

        ApiResponse job = submitted;
        var started = DateTimeOffset.UtcNow;
        async Task<bool> FollowAsync(Action<string> status)
        {
            while (true)
            {
                job = await client.SendAsync(HttpMethod.Get, location, cancellationToken: ct);
                var document = job.Ok ? job.As<JobDocument>() : null;
                var state = document?.State ?? "unknown";
                var phase = document?.Phase is { } p && state == JobStates.Running ? " · " + p : "";
                var elapsed = DateTimeOffset.UtcNow - started;
                status($"{document?.Kind ?? "-"} {document?.Trainer ?? document?.ModelName ?? "-"}: {state}{phase} · {elapsed.TotalSeconds:0}s");
                if (!job.Ok || JobStates.IsTerminal(state))
                {
                    return true;
                }
                if (waitSeconds is { } limit && elapsed.TotalSeconds >= limit)
                {
                    return false;
                }
                await Task.Delay(500, ct);
            }
        }

        bool ended;
        try
        {
            if (output.Json)
            {
                ended = await FollowAsync(_ => { });
            }
            else
            {
                output.Info($"[grey]job[/] {Markup.Escape(summary?.JobId.ToString() ?? location)}");
                ended = await output.Console.Status().StartAsync("submitted", ctx => FollowAsync(s => ctx.Status(Markup.Escape(s))));
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            StillRunning(summary?.JobId.ToString() ?? location, "stopped waiting (Ctrl-C)");
            return ExitCodes.StillRunning;
        }

        if (!ended)
        {
            output.Write(job.Body);
            StillRunning(summary?.JobId.ToString() ?? location, $"still running after {waitSeconds} s (--wait-seconds)");
            return ExitCodes.StillRunning;
        }
        if (!job.Ok)
        {
            return Report(parse, job);
        }
        output.Write(job.Body);
        var final = job.As<JobDocument>();
        if (final?.State == JobStates.Failed)
        {
            await PrintFailureAsync(client, final, CancellationToken.None);
        }
        return ExitCodes.FromJob(final?.State, final?.StatusCode);
    }

    private static void StillRunning(string job, string why)
        => Output.Error($"{why}: job {job} goes on on the server. Follow it: routeiq logs --follow {job} · see it: routeiq jobs show {job} · cancel it: routeiq jobs cancel {job}");

    /// <summary>A failed job: its error in one line on stderr, then the last lines of its log.</summary>
    private static async Task PrintFailureAsync(AdminClient client, JobDocument job, CancellationToken ct)
    {
        var jobId = job.JobId;
        Output.Error($"job {jobId} failed: {TableViews.ErrorText(job.Error)}");
        if (job.Kind != JobKinds.Train)
        {
            return;
        }
        using var response = await client.Http.GetAsync($"admin/jobs/{jobId}/logs", ct);
        var log = response.IsSuccessStatusCode ? await response.Content.ReadAsStringAsync(ct) : "";
        var lines = log.TrimEnd().Split('\n');
        if (log.Length > 0)
        {
            Console.Error.WriteLine($"--- last {Math.Min(lines.Length, FailureLogLines)} log lines (routeiq logs {jobId} for all) ---");
            foreach (var line in lines.TakeLast(FailureLogLines))
            {
                Console.Error.WriteLine(line.TrimEnd('\r'));
            }
        }
    }

    private const int FailureLogLines = 25;
}
