using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace RouteIQ.GatewayAdmin.Specs;

public sealed class SpecOptions
{
    public const string Section = "RouteIQ:Specs";

    /// <summary>A directory of <c>*.yaml</c>/<c>*.yml</c>/<c>*.json</c> files, or one file. Env <c>SPECS_PATH</c> too.</summary>
    public string? Path { get; set; }

    /// <summary>How often files are re-checked, in case the file watcher misses a change (network filesystems, editors that swap files).</summary>
    public double PollSeconds { get; set; } = 5;

    public string ResolvePath(Func<string, string?> environment)
        => System.IO.Path.GetFullPath(!string.IsNullOrWhiteSpace(Path) ? Path
            : environment("SPECS_PATH") is { Length: > 0 } env ? env : "./trainer-specs");
}

/// <summary>
/// The trainers in force. Each file is parsed on its own: a file that fails keeps its last
/// good trainers in force and its errors are reported (log, <c>GET /admin/trainers</c>,
/// readiness); files are merged in file-name order, a later file's trainer replacing an
/// earlier one's. Reloads when files change (watcher + debounce, plus a slow poll).
/// </summary>
public sealed class TrainerSpecStore
{
    private readonly string _path;
    private readonly Func<string, string?> _environment;
    private readonly ILogger<TrainerSpecStore> _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, FileState> _files = new(StringComparer.Ordinal);
    private Snapshot _current = new(new Dictionary<string, TrainerSpec>(), []);

    public TrainerSpecStore(IOptions<SpecOptions> options, ILogger<TrainerSpecStore> logger)
        : this(options.Value.ResolvePath(Environment.GetEnvironmentVariable), Environment.GetEnvironmentVariable, logger)
    {
    }

    public TrainerSpecStore(string path, Func<string, string?> environment, ILogger<TrainerSpecStore> logger)
    {
        _path = path;
        _environment = environment;
        _logger = logger;
        Reload();
    }

    public string Path => _path;

    public sealed record Snapshot(IReadOnlyDictionary<string, TrainerSpec> Trainers, IReadOnlyList<SpecLoadError> Errors);

    private sealed record FileState(DateTime LastWrite, long Length, IReadOnlyList<TrainerSpec> LastGood, IReadOnlyList<SpecLoadError> Errors);

    public Snapshot Current => Volatile.Read(ref _current);

    /// <summary>Re-reads changed files; returns true when anything changed.</summary>
    public bool Reload()
    {
        lock (_gate)
        {
            var changed = false;
            var files = ListFiles(out var listError);
            foreach (var gone in _files.Keys.Except(files).ToList())
            {
                _files.Remove(gone);
                changed = true;
                _logger.LogInformation("Spec file {File} removed; its trainers are gone", gone);
            }
            foreach (var file in files)
            {
                changed |= LoadFile(file);
            }

            var merged = new Dictionary<string, TrainerSpec>(StringComparer.Ordinal);
            var errors = new List<SpecLoadError>();
            if (listError is not null)
            {
                errors.Add(listError);
            }
            foreach (var (_, state) in _files.OrderBy(f => System.IO.Path.GetFileName(f.Key), StringComparer.Ordinal))
            {
                foreach (var spec in state.LastGood)
                {
                    merged[spec.Name] = spec;
                }
                errors.AddRange(state.Errors);
            }
            if (changed || listError is not null || _current.Errors.Count != errors.Count)
            {
                Volatile.Write(ref _current, new Snapshot(merged, errors));
            }
            return changed;
        }
    }

    private List<string> ListFiles(out SpecLoadError? error)
    {
        error = null;
        if (File.Exists(_path))
        {
            return [_path];
        }
        if (!Directory.Exists(_path))
        {
            error = new SpecLoadError(_path, 0, 0, "spec path does not exist (RouteIQ:Specs:Path or SPECS_PATH)");
            return [];
        }
        return Directory.EnumerateFiles(_path)
            .Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase)
                || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase)
                || f.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private bool LoadFile(string file)
    {
        FileInfo info;
        string text;
        try
        {
            info = new FileInfo(file);
            if (_files.TryGetValue(file, out var known) && known.LastWrite == info.LastWriteTimeUtc && known.Length == info.Length)
            {
                return false;
            }
            text = File.ReadAllText(file);
        }
        catch (IOException ex)
        {
            // Often a half-written file; the next change or poll reads it again.
            _logger.LogWarning("Cannot read spec file {File}: {Reason}", file, ex.Message);
            return false;
        }

        var result = TrainerSpecParser.Parse(file, text, _environment);
        _files.TryGetValue(file, out var previous);
        var duplicateErrors = result.Trainers.GroupBy(t => t.Name).Where(g => g.Count() > 1)
            .Select(g => new SpecLoadError(file, g.Last().Line, 1, $"trainer '{g.Key}' is defined twice"));
        var errors = result.Errors.Concat(duplicateErrors).ToList();
        if (errors.Count == 0)
        {
            _files[file] = new FileState(info.LastWriteTimeUtc, info.Length, result.Trainers, []);
            _logger.LogInformation("Loaded {Count} trainer(s) from {File}: {Trainers}", result.Trainers.Count, file,
                string.Join(", ", result.Trainers.Select(t => t.Name)));
        }
        else
        {
            var lastGood = previous?.LastGood ?? [];
            _files[file] = new FileState(info.LastWriteTimeUtc, info.Length, lastGood, errors);
            foreach (var error in errors)
            {
                _logger.LogError("Spec file error {Error}; {Count} trainer(s) of its last good version stay in force",
                    error.ToString(), lastGood.Count);
            }
        }
        return true;
    }
}

/// <summary>Watches the spec path and reloads, debounced; a slow poll catches what the watcher misses.</summary>
internal sealed class TrainerSpecWatcher(TrainerSpecStore store, IOptions<SpecOptions> options, ILogger<TrainerSpecWatcher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var signal = new SemaphoreSlim(0);
        using var watcher = TryWatch(store.Path, () => signal.Release());
        var poll = TimeSpan.FromSeconds(Math.Max(0.2, options.Value.PollSeconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await signal.WaitAsync(poll, stoppingToken);
                // Debounce: editors write in several steps.
                await Task.Delay(TimeSpan.FromMilliseconds(200), stoppingToken);
                while (signal.CurrentCount > 0)
                {
                    await signal.WaitAsync(stoppingToken);
                }
                store.Reload();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogError(ex, "Reloading trainer specs failed");
            }
        }
    }

    private FileSystemWatcher? TryWatch(string path, Action changed)
    {
        try
        {
            var dir = Directory.Exists(path) ? path : System.IO.Path.GetDirectoryName(path);
            if (dir is null || !Directory.Exists(dir))
            {
                return null;
            }
            var watcher = new FileSystemWatcher(dir)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
                IncludeSubdirectories = false,
            };
            watcher.Changed += (_, _) => changed();
            watcher.Created += (_, _) => changed();
            watcher.Deleted += (_, _) => changed();
            watcher.Renamed += (_, _) => changed();
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException)
        {
            logger.LogWarning("Cannot watch {Path} ({Reason}); polling only", path, ex.Message);
            return null;
        }
    }
}

internal sealed class TrainerSpecHealthCheck(TrainerSpecStore store) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var snapshot = store.Current;
        var summary = $"{snapshot.Trainers.Count} trainer(s) from {store.Path}";
        return Task.FromResult(snapshot.Errors.Count == 0
            ? HealthCheckResult.Healthy(summary)
            : HealthCheckResult.Degraded($"{summary}; errors: {string.Join("; ", snapshot.Errors)}"));
    }
}
