using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using RouteIQ.Artifacts;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

/// <summary>
/// The real thing: scripts/build-images.sh builds both images without a registry, the trainer
/// container reads a built dataset from s3rver, and the router-server container serves the
/// model it produced (from S3, with a manifest) — all through the real Docker Engine.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DockerEndToEndTests
{
    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RouteIQ.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("cannot find RouteIQ.sln above the test binaries");
    }

    private static async Task<(int Exit, string Output)> Run(string file, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var process = Process.Start(psi)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} ran past {timeout}: {output}");
        }
        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    [Fact]
    public async Task Trainer_container_trains_from_s3_and_server_container_serves_the_model()
    {
        var root = RepositoryRoot();
        var (buildExit, buildLog) = await Run("bash", TimeSpan.FromMinutes(9), Path.Combine(root, "scripts", "build-images.sh"));
        Assert.True(buildExit == 0, buildLog);

        var prefix = $"routing-e2e-{Guid.NewGuid():N}";
        var s3 = new S3Settings { ServiceUrl = TestInfra.S3Url, AccessKey = TestInfra.S3AccessKey, SecretKey = TestInfra.S3SecretKey, ForcePathStyle = true, S3Compatible = true };
        using var store = S3ArtifactStore.Create(TestInfra.S3Bucket, prefix + "/", s3);
        var (train, test) = SyntheticData.Dataset(240, seed: 71).Split(0.25, seed: 3);
        await store.PutAsync("datasets/e2e/routing_train.jsonl", new MemoryStream(Encoding.UTF8.GetBytes(SyntheticData.RoutingJsonl(train))));
        await store.PutAsync("datasets/e2e/routing_test.jsonl", new MemoryStream(Encoding.UTF8.GetBytes(SyntheticData.RoutingJsonl(test))));
        await store.PutAsync("datasets/e2e/llm_data.json", new MemoryStream(Encoding.UTF8.GetBytes(SyntheticData.Catalogue())));

        var output = TestInfra.TempDirectory("routing-e2e-output");
        // The image runs as an unprivileged user: the bind-mounted output must be writable by it.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(output, (UnixFileMode)0b111_111_111);
        }
        var trainer = $"riq-trainer-{Guid.NewGuid():N}";
        var server = $"riq-server-{Guid.NewGuid():N}";
        try
        {
            var (exit, log) = await Run("docker", TimeSpan.FromMinutes(3), "run", "--name", trainer, "--network", "host",
                "-v", $"{output}:/output",
                "-e", $"ROUTEIQ_DATASET_URI=s3://{TestInfra.S3Bucket}/{prefix}/datasets/e2e/",
                "-e", $"AWS_ENDPOINT_URL_S3={TestInfra.S3Url}",
                "-e", $"AWS_ACCESS_KEY_ID={TestInfra.S3AccessKey}",
                "-e", $"AWS_SECRET_ACCESS_KEY={TestInfra.S3SecretKey}",
                "-e", "ROUTER_TYPE=knn", "-e", "K=8", "-e", "FEATURE_DIM=256",
                "routeiq/router-trainer:dev");
            Assert.True(exit == 0, log);
            Assert.Contains("held-out: avg quality", log);
            Assert.True(File.Exists(Path.Combine(output, RouterModel.FileName)), log);
            Assert.True(File.Exists(Path.Combine(output, "metrics.json")), log);

            // Publish as rollout does: files, then manifest.json last.
            var modelBytes = await File.ReadAllBytesAsync(Path.Combine(output, RouterModel.FileName));
            await store.PutAsync("models/knn-router/router.model", new MemoryStream(modelBytes));
            var manifest = new ModelManifest { Version = "1", Artifacts = [new ManifestArtifact(RouterModel.FileName, Convert.ToHexStringLower(SHA256.HashData(modelBytes)))] }
                .Sign(new HmacManifestSigner("e2e-key"));
            await store.PutAsync("models/knn-router/manifest.json", new MemoryStream(manifest.ToJsonBytes()));

            var port = TestInfra.FreePort();
            var (runExit, runLog) = await Run("docker", TimeSpan.FromMinutes(1), "run", "-d", "--name", server, "--network", "host",
                "-e", $"SERVE_MODEL_URI=s3://{TestInfra.S3Bucket}/{prefix}/models/knn-router/",
                "-e", $"SERVE_PORT={port}",
                "-e", "MANIFEST_HMAC_KEY=e2e-key",
                "-e", $"AWS_ENDPOINT_URL_S3={TestInfra.S3Url}",
                "-e", $"AWS_ACCESS_KEY_ID={TestInfra.S3AccessKey}",
                "-e", $"AWS_SECRET_ACCESS_KEY={TestInfra.S3SecretKey}",
                "routeiq/router-server:dev");
            Assert.True(runExit == 0, runLog);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
            await TestInfra.WaitUntilAsync(async () =>
            {
                try
                {
                    return (await http.GetAsync("/ping")).IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(60), "the router-server container's /ping");

            var response = await http.PostAsJsonAsync("/invocations", new { queries = new[] { "solve the integral equation theorem", "python function compile bug" } });
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.True(response.IsSuccessStatusCode, body.ToJsonString());
            Assert.Equal(["math-pro", "code-pro"], body["results"]!.AsArray().Select(r => r!["model"]!.GetValue<string>()));
            Assert.Equal("1", body["model_version"]!.GetValue<string>());
        }
        finally
        {
            await Run("docker", TimeSpan.FromMinutes(1), "rm", "-f", trainer, server);
        }
    }
}
