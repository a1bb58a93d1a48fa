using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace RouteIQ.Testing;

/// <summary>
/// The real servers <c>scripts/infra.sh</c> started on loopback. A missing setting fails the
/// test with a message saying how to start them; integration tests never skip silently.
/// </summary>
public static class TestInfra
{
    public static string RabbitMqUri => Require("ROUTEIQ_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672/");
    public static string PostgresAdmin => Require("ROUTEIQ_TEST_POSTGRES", "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres");
    public static string S3Url => Require("ROUTEIQ_TEST_S3_URL", "http://127.0.0.1:9090");
    public static string S3Bucket => Require("ROUTEIQ_TEST_S3_BUCKET", "routeiq");
    public static string S3AccessKey => Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID") ?? "S3RVER";
    public static string S3SecretKey => Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY") ?? "S3RVER";
    public static string DockerHost => Require("ROUTEIQ_TEST_DOCKER", "unix:///var/run/docker.sock");
    public static string TestImage => Require("ROUTEIQ_TEST_IMAGE", "routeiq/busybox:test");

    private static string Require(string name, string localDefault)
    {
        RequireIntegration(name);
        return Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : localDefault;
    }

    /// <summary>
    /// Set by <c>scripts/test.sh</c> for its first pass (<c>Category!=Integration</c>): the unit tests run alone, without
    /// the servers, child processes or containers, in seconds.
    /// </summary>
    public const string UnitOnlyVariable = "ROUTEIQ_TEST_UNIT_ONLY";

    /// <summary>
    /// Fails a test that reaches for a real server or a child process during the unit-only pass: it is an integration
    /// test and its class must say so, or the unit pass would be neither quick nor self-contained.
    /// </summary>
    public static void RequireIntegration(string what)
    {
        if (Environment.GetEnvironmentVariable(UnitOnlyVariable) == "1")
        {
            throw new InvalidOperationException(
                $"this test uses {what} but its class lacks [Trait(\"Category\", \"Integration\")]: the unit-only pass (scripts/test.sh) runs without servers or child processes");
        }
    }

    /// <summary>Comment on every test database and description of every test vhost (see scripts/test.sh).</summary>
    public const string TestMarker = "routeiq-test";

    /// <summary>A fresh PostgreSQL database for one test class; returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 33, 63)].ToLowerInvariant();
        await using var connection = new NpgsqlConnection(PostgresAdmin);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"CREATE DATABASE \"{name}\"";
        await command.ExecuteNonQueryAsync();
        // Marked, so scripts/test.sh can drop what earlier runs left behind (and nothing else).
        command.CommandText = $"COMMENT ON DATABASE \"{name}\" IS '{TestMarker}'";
        await command.ExecuteNonQueryAsync();
        // A bounded pool per test database: test assemblies run side by side, each with several hosts.
        return new NpgsqlConnectionStringBuilder(PostgresAdmin) { Database = name, MaxPoolSize = 20 }.ConnectionString;
    }

    /// <summary>
    /// A fresh RabbitMQ virtual host for one test class (exchanges are per message type, so
    /// classes running in parallel on one vhost would see each other's messages).
    /// </summary>
    public static async Task<string> CreateVirtualHostAsync(string prefix)
    {
        var vhost = $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 60)];
        await RunAsync("rabbitmqctl", "add_vhost", vhost, "--description", TestMarker);
        await RunAsync("rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*");
        var baseUri = new Uri(RabbitMqUri);
        return new UriBuilder(baseUri) { Path = "/" + Uri.EscapeDataString(vhost) }.Uri.ToString();
    }

    /// <summary>The virtual host named by a RabbitMQ URI (as <see cref="CreateVirtualHostAsync"/> returns it).</summary>
    public static string VirtualHostOf(string rabbitUri)
        => new Uri(rabbitUri).AbsolutePath.TrimStart('/') is { Length: > 0 } path ? Uri.UnescapeDataString(path) : "/";

    /// <summary>
    /// Waits until the queues of <paramref name="rabbitUri"/>'s vhost chosen by <paramref name="queues"/> hold no message,
    /// neither ready nor unacknowledged: everything published to them before has been consumed (a consumer acknowledges
    /// once it is done). The barrier a "nothing more happens" assertion needs once every publisher is known to be done.
    /// </summary>
    public static async Task WaitForQueuesDrainedAsync(string rabbitUri, Func<string, bool> queues, TimeSpan timeout)
    {
        var vhost = VirtualHostOf(rabbitUri);
        var last = "";
        try
        {
            await WaitUntilAsync(async () =>
            {
                last = await RunAsync("rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name", "messages");
                return last.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(line => line.Split('\t', StringSplitOptions.TrimEntries))
                    .Where(columns => columns.Length == 2 && queues(columns[0]))
                    .All(columns => columns[1] == "0");
            }, timeout, $"the queues of vhost {vhost} to drain");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; queues and messages: {last.ReplaceLineEndings(", ")}", ex);
        }
    }

    /// <summary>A loopback TCP port nobody listens on right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string TempDirectory(string prefix)
    {
        var dir = Path.Combine(Path.GetTempPath(), "routeiq-tests", $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static async Task<string> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        }
        return await stdout;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (await condition())
            {
                return;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"timed out after {timeout.TotalSeconds:0}s waiting for {what}");
    }
}
