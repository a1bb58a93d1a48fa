using RouteIQ.Testing;

namespace RouteIQ.Foundation.Tests;

/// <summary>The real entry points, started as their own processes against the real servers.</summary>
[Trait("Category", "Integration")]
public sealed class StartupTests
{
    [Theory]
    [InlineData("RouteIQ.GatewayAdmin.dll", "gw")]
    [InlineData("RouteIQ.TrainerRunner.dll", "tr")]
    [InlineData("RouteIQ.Rollout.dll", "ro")]
    [InlineData("RouteIQ.TelemetryIngest.dll", "ti")]
    public async Task EachServiceStartsDistributedAndReportsReady(string dll, string prefix)
    {
        var port = TestInfra.FreePort();
        var env = new Dictionary<string, string?>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["ConnectionStrings__RabbitMq"] = await TestInfra.CreateVirtualHostAsync(prefix),
            ["ConnectionStrings__RouteIQ"] = await TestInfra.CreateDatabaseAsync(prefix),
            ["RouteIQ__Artifacts__Uri"] = $"s3://{TestInfra.S3Bucket}/startup-{Guid.NewGuid():N}",
            ["RouteIQ__Artifacts__ServiceUrl"] = TestInfra.S3Url,
            ["AWS_ACCESS_KEY_ID"] = TestInfra.S3AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = TestInfra.S3SecretKey,
            ["RouteIQ__DataDir"] = TestInfra.TempDirectory(prefix),
            ["RouteIQ__Rollout__PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
            ["RouteIQ__Specs__Path"] = TestInfra.TempDirectory(prefix + "-specs"),
            ["RouteIQ__Workloads__Launcher"] = "Process",
        };
        await using var service = ServiceProcess.Start(dll, env);
        await service.WaitForHttpOkAsync($"http://127.0.0.1:{port}/health/ready", TimeSpan.FromSeconds(90));

        Assert.Equal(0, await service.TerminateAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task UpWithAnEmptyDataDirIsReady()
    {
        var port = TestInfra.FreePort();
        var env = new Dictionary<string, string?>
        {
            ["RouteIQ__DataDir"] = TestInfra.TempDirectory("up"),
            ["RouteIQ__Rollout__PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
            ["ConnectionStrings__RabbitMq"] = null,
            ["ConnectionStrings__RouteIQ"] = null,
        };
        await using var cli = ServiceProcess.Start("routeiq.dll", env, "up", "--urls", $"http://127.0.0.1:{port}");
        await cli.WaitForHttpOkAsync($"http://127.0.0.1:{port}/health/ready", TimeSpan.FromSeconds(90));

        Assert.Contains("in-memory", cli.Output);
        Assert.Equal(0, await cli.TerminateAsync(TimeSpan.FromSeconds(30)));
    }

    public static TheoryData<string, string, string> BadConfigurations => new()
    {
        { "ConnectionStrings__RabbitMq", "not a uri", "ConnectionStrings:RabbitMq" },
        { "ConnectionStrings__RabbitMq", "amqp://guest:guest@127.0.0.1:1/", "ConnectionStrings:RabbitMq" },
        { "RouteIQ__Bus__Transport", "Kafka", "RouteIQ:Bus:Transport" },
        { "ConnectionStrings__RouteIQ", "Host=;;Port=abc", "ConnectionStrings:RouteIQ" },
        { "ConnectionStrings__RouteIQ", "Host=127.0.0.1;Port=1;Username=x;Password=y;Timeout=2", "ConnectionStrings:RouteIQ" },
        { "RouteIQ__Artifacts__Uri", "ftp://nope/x", "RouteIQ:Artifacts:Uri" },
    };

    [Theory]
    [MemberData(nameof(BadConfigurations))]
    public async Task BadConfigurationFailsWithOneLineNamingTheKey(string variable, string value, string key)
    {
        var env = new Dictionary<string, string?>
        {
            [variable] = value,
            ["RouteIQ__DataDir"] = TestInfra.TempDirectory("badcfg"),
            ["RouteIQ__Rollout__PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
        };
        await using var cli = ServiceProcess.Start("routeiq.dll", env, "up", "--urls", $"http://127.0.0.1:{TestInfra.FreePort()}");

        Assert.Equal(2, await cli.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var errors = cli.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith("configuration error", StringComparison.Ordinal)).ToList();
        Assert.Single(errors);
        Assert.Contains(key, errors[0]);
        Assert.DoesNotContain("   at ", cli.Output);
        Assert.DoesNotContain("password=y", cli.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_database_migrated_by_a_newer_build_stops_up_with_one_line_and_exit_code_2()
    {
        var dataDir = TestInfra.TempDirectory("newer-db");
        var env = new Dictionary<string, string?>
        {
            ["RouteIQ__DataDir"] = dataDir,
            ["RouteIQ__Rollout__PublicUrl"] = $"http://127.0.0.1:{TestInfra.FreePort()}",
            ["ConnectionStrings__RouteIQ"] = null,
            ["ConnectionStrings__RabbitMq"] = null,
        };
        await using (var migrate = ServiceProcess.Start("routeiq.dll", env, "migrate"))
        {
            Assert.Equal(0, await migrate.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        }
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "rollout.db")};Pooling=false"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO \"__EFMigrationsHistory\" VALUES ('29991231235959_FromTheFuture', '99.0.0')";
            await command.ExecuteNonQueryAsync();
        }

        await using var cli = ServiceProcess.Start("routeiq.dll", env, "up", "--urls", $"http://127.0.0.1:{TestInfra.FreePort()}");

        Assert.Equal(2, await cli.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var errors = cli.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.StartsWith("configuration error", StringComparison.Ordinal)).ToList();
        Assert.Single(errors);
        Assert.Contains("newer RouteIQ", errors[0]);
        Assert.DoesNotContain("   at ", cli.Output);
    }
}
