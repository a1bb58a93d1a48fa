using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using RouteIQ.Artifacts;
using RouteIQ.Contracts;

namespace RouteIQ.Rollout.Registry;

/// <summary>
/// Registers model versions from finished training runs and answers registry questions.
/// Version numbers come from a per-model counter row incremented in the same transaction
/// that inserts the version, so two completions never share a number and a failed
/// registration leaves no gap.
/// </summary>
public sealed partial class ModelRegistry(
    IDbContextFactory<RegistryDbContext> dbFactory,
    IArtifactStore store,
    ManifestSigning signing,
    TimeProvider time,
    ILogger<ModelRegistry> logger)
{
    /// <summary>The shared identifier rules (<see cref="Identifiers"/>): no trailing newline or path segment slips through.</summary>
    public static bool IsValidModelName(string? name) => Identifiers.IsValid(name);

    /// <summary>Registers the output of <paramref name="completed"/>; a redelivery returns the version already registered.</summary>
    public async Task<ModelVersion> RegisterAsync(TrainCompleted completed, CancellationToken cancellationToken)
    {
        if (!IsValidModelName(completed.ModelName))
        {
            throw new RegistryException(422, $"ModelName '{completed.ModelName}' is not a valid model name ([A-Za-z0-9][A-Za-z0-9_.-]{{0,127}})");
        }

        var version = await FindByJobAsync(completed.JobId, cancellationToken);
        if (version is null)
        {
            // Check the output before a number is taken, so a bad run never leaves a gap.
            await ValidateRunOutputAsync(completed, cancellationToken);
            version = await AllocateAsync(completed, cancellationToken);
        }
        if (version.State == VersionStates.Ready)
        {
            return version;
        }

        var (manifestUri, manifestSha) = await CopyAndSignAsync(completed, version, cancellationToken);

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        db.Attach(version);
        version.State = VersionStates.Ready;
        version.ModelUri = store.GetUri(ArtifactKeys.RegistryVersion(version.ModelName, version.Version));
        version.ManifestUri = manifestUri;
        version.ManifestSha256 = manifestSha;
        version.SignatureType = signing.SignatureType;
        await db.SaveChangesAsync(cancellationToken);
        logger.LogInformation("Registered {Model} v{Version} from job {JobId} ({SignatureType})",
            version.ModelName, version.Version, completed.JobId, version.SignatureType);
        return version;
    }

    private async Task<ModelVersion?> FindByJobAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Versions.AsNoTracking().FirstOrDefaultAsync(v => v.TrainJobId == jobId, cancellationToken);
    }

    private async Task<ModelVersion> AllocateAsync(TrainCompleted completed, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var strategy = db.Database.CreateExecutionStrategy();
        try
        {
            return await strategy.ExecuteAsync(async () =>
            {
                db.ChangeTracker.Clear();
                await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
                // Only the table name (from the EF model) is spliced in; values are parameters.
                var models = QualifiedTable(db, typeof(RegisteredModel));
#pragma warning disable EF1002
                var now = time.GetUtcNow();
                // The first statement writes, so SQLite takes its write lock at once (no deadlocked upgrade).
                await db.Database.ExecuteSqlRawAsync(
                    $"INSERT INTO {models} (\"Name\", \"NextVersion\", \"CreatedAt\") VALUES ({{0}}, 1, {{1}}) ON CONFLICT (\"Name\") DO NOTHING",
                    [completed.ModelName, now], cancellationToken);
                var numbers = await db.Database.SqlQueryRaw<int>(
                    $"UPDATE {models} SET \"NextVersion\" = \"NextVersion\" + 1 WHERE \"Name\" = {{0}} RETURNING \"NextVersion\" - 1 AS \"Value\"",
                    completed.ModelName).ToListAsync(cancellationToken);
#pragma warning restore EF1002
                var version = new ModelVersion
                {
                    Id = Guid.NewGuid(),
                    ModelName = completed.ModelName,
                    Version = numbers.Single(),
                    TrainJobId = completed.JobId,
                    State = VersionStates.Registering,
                    Trainer = completed.Trainer,
                    ServeImage = string.IsNullOrWhiteSpace(completed.ServeImage) ? null : completed.ServeImage,
                    ServeCommandJson = completed.ServeCommand is { Count: > 0 } cmd ? JsonSerializer.Serialize(cmd) : null,
                    MetricsJson = JsonSerializer.Serialize(completed.Metrics),
                    RunId = completed.RunId,
                    CreatedAt = now,
                };
                db.Versions.Add(version);
                await db.SaveChangesAsync(cancellationToken);
                await tx.CommitAsync(cancellationToken);
                db.Entry(version).State = EntityState.Detached;
                return version;
            });
        }
        catch (DbUpdateException)
        {
            // A redelivery of the same job raced us and won (unique job id): its version is the one.
            var concurrent = await FindByJobAsync(completed.JobId, cancellationToken);
            if (concurrent is null)
            {
                throw;
            }
            return concurrent;
        }
    }

    private async Task ValidateRunOutputAsync(TrainCompleted completed, CancellationToken cancellationToken)
    {
        var source = ArtifactKeys.RunOutput(completed.JobId);
        var expected = completed.Files.ToDictionary(f => f.Path.TrimStart('/'), f => f.Sha256, StringComparer.Ordinal);
        var count = 0;
        await foreach (var entry in store.ListAsync(source, cancellationToken))
        {
            var relative = entry.Key[source.Length..];
            if (relative == ModelManifest.FileName)
            {
                continue;
            }
            count++;
            if (expected.TryGetValue(relative, out var sha))
            {
                await using var input = await store.OpenReadAsync(entry.Key, cancellationToken);
                var actual = Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(input, cancellationToken));
                if (!string.Equals(sha, actual, StringComparison.OrdinalIgnoreCase))
                {
                    throw new RegistryException(422, $"run output file '{relative}' changed since training (sha256 {actual}, TrainCompleted says {sha})");
                }
            }
        }
        if (count == 0)
        {
            throw new RegistryException(422, $"run output {store.GetUri(source)} has no files");
        }
    }

    private async Task<(string ManifestUri, string ManifestSha)> CopyAndSignAsync(TrainCompleted completed, ModelVersion version, CancellationToken cancellationToken)
    {
        var source = ArtifactKeys.RunOutput(completed.JobId);
        var target = ArtifactKeys.RegistryVersion(version.ModelName, version.Version);
        var expected = completed.Files.ToDictionary(f => f.Path.TrimStart('/'), f => f.Sha256, StringComparer.Ordinal);
        var artifacts = new List<ManifestArtifact>();
        await foreach (var entry in store.ListAsync(source, cancellationToken))
        {
            var relative = entry.Key[source.Length..];
            if (relative == ModelManifest.FileName)
            {
                continue; // ours replaces any manifest the trainer wrote
            }
            await using var input = await store.OpenReadAsync(entry.Key, cancellationToken);
            var written = await store.PutAsync(target + relative, input, cancellationToken);
            if (expected.TryGetValue(relative, out var sha) && !string.Equals(sha, written.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                throw new RegistryException(422, $"run output file '{relative}' changed since training (sha256 {written.Sha256}, TrainCompleted says {sha})");
            }
            artifacts.Add(new ManifestArtifact(relative, written.Sha256, written.Size));
        }
        if (artifacts.Count == 0)
        {
            throw new RegistryException(422, $"run output {store.GetUri(source)} has no files");
        }

        var metadata = new JsonObject
        {
            ["model"] = version.ModelName,
            ["job_id"] = completed.JobId.ToString(),
            ["trainer"] = completed.Trainer,
            ["run_id"] = completed.RunId,
            ["metrics"] = JsonSerializer.SerializeToNode(completed.Metrics),
        };
        var manifest = new ModelManifest
        {
            Version = version.Version.ToString(CultureInfo.InvariantCulture),
            CreatedAt = version.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            Description = $"{version.ModelName} v{version.Version}",
            Metadata = metadata,
            Artifacts = artifacts,
        };
        if (signing.Signer is { } signer)
        {
            manifest = manifest.Sign(signer);
        }
        var bytes = manifest.ToJsonBytes();
        using var content = new MemoryStream(bytes, writable: false);
        var file = await store.PutAsync(target + ModelManifest.FileName, content, cancellationToken);
        return (store.GetUri(file.Path), file.Sha256);
    }

    /// <summary>Resolves <c>@alias</c> or an integer version to a ready version.</summary>
    public async Task<ModelVersion> ResolveAsync(string modelName, string? reference, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(reference))
        {
            throw new RegistryException(400, "ref must be '@alias' or integer version");
        }
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        int number;
        if (reference.StartsWith('@'))
        {
            var aliasName = reference[1..];
            var alias = await db.Aliases.AsNoTracking()
                .FirstOrDefaultAsync(a => a.ModelName == modelName && a.Alias == aliasName, cancellationToken)
                ?? throw new RegistryException(404, $"alias '{reference}' of model '{modelName}' not found");
            number = alias.Version;
        }
        else if (!int.TryParse(reference.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out number) || number < 1)
        {
            throw new RegistryException(400, "ref must be '@alias' or integer version");
        }
        return await db.Versions.AsNoTracking()
            .FirstOrDefaultAsync(v => v.ModelName == modelName && v.Version == number && v.State == VersionStates.Ready, cancellationToken)
            ?? throw new RegistryException(404, $"version {number} of model '{modelName}' not found");
    }

    public static string QualifiedTable(DbContext db, Type entity)
    {
        var type = db.Model.FindEntityType(entity) ?? throw new InvalidOperationException($"{entity.Name} is not mapped");
        var schema = type.GetSchema();
        return schema is null ? $"\"{type.GetTableName()}\"" : $"\"{schema}\".\"{type.GetTableName()}\"";
    }
}

/// <summary>A registry or rollout request that cannot be honoured; <see cref="StatusCode"/> is what the admin API answers.</summary>
public sealed class RegistryException(int statusCode, string message) : Exception(message)
{
    public int StatusCode { get; } = statusCode;
}
