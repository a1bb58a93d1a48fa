using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RouteIQ.ServiceDefaults;
using RouteIQ.TelemetryIngest.Store;
using RouteIQ.Testing;

namespace RouteIQ.Foundation.Tests;

/// <summary>
/// The embedded mode's SQLite files hold the unredacted dispatch environment: the data directory
/// is created 0700 and the database files 0600 (an existing world-readable one is tightened).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OwnerOnlyFileTests
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    [Fact]
    public async Task Sqlite_files_and_the_data_directory_are_readable_by_their_owner_only()
    {
        var dataDir = Path.Combine(TestInfra.TempDirectory("owner-only"), "data");
        Directory.CreateDirectory(dataDir + "-other");
        // A database an earlier version left world-readable.
        var old = Path.Combine(dataDir + "-other", $"{TelemetryDbContext.Schema}.db");
        await File.WriteAllBytesAsync(old, []);
        File.SetUnixFileMode(old, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        foreach (var dir in new[] { dataDir, dataDir + "-other" })
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["RouteIQ:DataDir"] = dir });
            builder.AddRouteIQDbContext<TelemetryDbContext>(TelemetryDbContext.Schema);
            using var host = builder.Build();
            await host.StartAsync(); // migrations write the schema (database, WAL and shared-memory files)
            var files = Directory.GetFiles(dir, "*.db*");
            Assert.Contains(files, f => f.EndsWith(".db", StringComparison.Ordinal));
            foreach (var file in files)
            {
                Assert.True((File.GetUnixFileMode(file) & GroupOrOther) == 0, $"{file} is {File.GetUnixFileMode(file)}");
            }
            await host.StopAsync();
        }
        Assert.Equal(OwnerOnlyFiles.OwnerDirectoryMode, File.GetUnixFileMode(dataDir));
    }

    [Fact]
    public void The_helper_creates_private_files_and_directories_and_tightens_existing_ones()
    {
        var root = TestInfra.TempDirectory("owner-only-helper");
        var nested = Path.Combine(root, "a", "b");
        OwnerOnlyFiles.EnsureDirectory(nested);
        Assert.Equal(OwnerOnlyFiles.OwnerDirectoryMode, File.GetUnixFileMode(nested));

        var created = Path.Combine(nested, "new.db");
        OwnerOnlyFiles.EnsureSqliteDatabase(created);
        Assert.Equal(OwnerOnlyFiles.OwnerFileMode, File.GetUnixFileMode(created));

        var existing = Path.Combine(root, "old.db");
        File.WriteAllText(existing, "");
        File.WriteAllText(existing + "-wal", "");
        File.SetUnixFileMode(existing + "-wal", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        OwnerOnlyFiles.EnsureSqliteDatabase(existing);
        Assert.Equal(OwnerOnlyFiles.OwnerFileMode, File.GetUnixFileMode(existing));
        Assert.Equal(OwnerOnlyFiles.OwnerFileMode, File.GetUnixFileMode(existing + "-wal"));
    }
}
