namespace RouteIQ.ServiceDefaults;

/// <summary>
/// Files that hold secrets (the SQLite databases keep the unredacted dispatch environment) are
/// readable by their owner only: directories 0700, files 0600. On Windows the user profile's
/// ACLs apply and nothing changes here.
/// </summary>
public static class OwnerOnlyFiles
{
    public const UnixFileMode OwnerDirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode OwnerFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> (and missing parents) 0700, or tightens it to 0700 when this user owns it.</summary>
    public static DirectoryInfo EnsureDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return Directory.CreateDirectory(path);
        }
        var directory = Directory.Exists(path) ? new DirectoryInfo(path) : Directory.CreateDirectory(path, OwnerDirectoryMode);
        Tighten(directory.FullName, OwnerDirectoryMode);
        return directory;
    }

    /// <summary>
    /// Creates an empty <paramref name="path"/> 0600 if it does not exist, so the program that
    /// fills it (SQLite) opens a private file, and tightens an existing one to 0600.
    /// </summary>
    public static void EnsureFile(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        if (!File.Exists(path))
        {
            try
            {
                using var created = new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerFileMode,
                });
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first; tightened below.
            }
        }
        Tighten(path, OwnerFileMode);
    }

    /// <summary>For a SQLite database (not PostgreSQL, not in-memory): its files owner-only.</summary>
    public static void EnsureSqliteDatabase(DatabaseSettings settings)
    {
        if (settings.Provider == DatabaseProvider.Sqlite
            && new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(settings.ConnectionString).DataSource is { Length: > 0 } path
            && path != ":memory:")
        {
            EnsureSqliteDatabase(path);
        }
    }

    /// <summary>A SQLite database and its journal, WAL and shared-memory files: owner-only. SQLite gives new WAL files the database's mode.</summary>
    public static void EnsureSqliteDatabase(string databasePath)
    {
        EnsureFile(databasePath);
        if (new FileInfo(databasePath).Length == 0)
        {
            // An empty file is a database without a journal mode: a read-only open (EF's existence
            // check) would then fail to switch it to WAL. Made a WAL database now, as SQLite itself would.
            using var connection = new Microsoft.Data.Sqlite.SqliteConnection(
                new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = databasePath, Pooling = false }.ConnectionString);
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode=WAL;";
            command.ExecuteNonQuery();
        }
        foreach (var suffix in new[] { "-wal", "-shm", "-journal" })
        {
            if (File.Exists(databasePath + suffix))
            {
                Tighten(databasePath + suffix, OwnerFileMode);
            }
        }
    }

    private static void Tighten(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        try
        {
            if ((File.GetUnixFileMode(path) & ~mode) != 0)
            {
                File.SetUnixFileMode(path, mode);
            }
        }
        catch (UnauthorizedAccessException)
        {
            // Not ours (a shared folder the operator set up): its owner decides.
        }
    }
}
