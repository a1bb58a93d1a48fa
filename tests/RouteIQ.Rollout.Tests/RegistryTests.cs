using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RouteIQ.Artifacts;
using RouteIQ.Rollout.Registry;
using RouteIQ.Testing;

namespace RouteIQ.Rollout.Tests;

/// <summary>Version numbering under concurrency, on PostgreSQL and on SQLite.</summary>
[Trait("Category", "Integration")]
public sealed class RegistryTests
{
    [Theory]
    [InlineData("postgres")]
    [InlineData("sqlite")]
    public async Task Twenty_concurrent_completions_of_one_model_get_versions_1_to_20_without_gaps(string database)
    {
        var settings = await RolloutTestHost.SettingsAsync($"rollout-reg-{database}");
        if (database == "postgres")
        {
            settings["ConnectionStrings:RouteIQ"] = await TestInfra.CreateDatabaseAsync("rollout_registry");
        }
        await using var host = await RolloutTestHost.StartAsync(settings);
        const string model = "numbered";

        var messages = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => host.WriteRunOutputAsync(model, $"{{\"n\":{i}}}")));
        await Task.WhenAll(messages.Select(m => host.Bus.Publish(m)));
        var versions = await Task.WhenAll(messages.Select(m => host.WaitRegisteredAsync(m.JobId, TimeSpan.FromSeconds(90))));

        Assert.Equal(Enumerable.Range(1, 20), versions.Order());

        // A redelivered completion is the version it already registered, not a 21st.
        var registry = host.Services.GetRequiredService<ModelRegistry>();
        var again = await registry.RegisterAsync(messages[7], CancellationToken.None);
        Assert.Equal(versions[7], again.Version);

        var factory = host.Services.GetRequiredService<IDbContextFactory<RegistryDbContext>>();
        await using var db = await factory.CreateDbContextAsync();
        Assert.Equal(20, await db.Versions.CountAsync(v => v.ModelName == model));
        Assert.Equal(21, (await db.Models.SingleAsync(m => m.Name == model)).NextVersion);

        // Each version folder holds that job's own files and a manifest numbering it.
        for (var i = 0; i < 20; i++)
        {
            var key = ArtifactKeys.RegistryVersion(model, versions[i]);
            await using var stream = await host.Store.OpenReadAsync(key + "model.json");
            Assert.Equal($"{{\"n\":{i}}}", await new StreamReader(stream).ReadToEndAsync());
            await using var manifestStream = await host.Store.OpenReadAsync(key + ModelManifest.FileName);
            using var buffer = new MemoryStream();
            await manifestStream.CopyToAsync(buffer);
            var manifest = ModelManifest.Parse(buffer.ToArray());
            Assert.Equal(versions[i].ToString(), manifest.Version);
            Assert.Equal(ManifestSignatureTypes.None, manifest.SignatureType);
            Assert.Equal(messages[i].JobId.ToString(), manifest.Metadata!["job_id"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task A_completion_whose_output_changed_since_training_is_not_registered()
    {
        await using var host = await RolloutTestHost.StartAsync(await RolloutTestHost.SettingsAsync("rollout-reg-bad"));
        var message = await host.WriteRunOutputAsync("changed", "{\"n\":1}");
        using (var stream = new MemoryStream("tampered"u8.ToArray()))
        {
            await host.Store.PutAsync(ArtifactKeys.RunOutput(message.JobId) + "model.json", stream);
        }
        var registry = host.Services.GetRequiredService<ModelRegistry>();

        var error = await Assert.ThrowsAsync<RegistryException>(() => registry.RegisterAsync(message, CancellationToken.None));
        Assert.Equal(422, error.StatusCode);
        Assert.Contains("model.json", error.Message);

        var badName = await Assert.ThrowsAsync<RegistryException>(() => registry.RegisterAsync(message with { ModelName = "../escape" }, CancellationToken.None));
        Assert.Contains("ModelName", badName.Message);

        // The refused run took no number: the next good one is version 1.
        var good = await host.WriteRunOutputAsync("changed", "{\"n\":2}");
        Assert.Equal(1, (await registry.RegisterAsync(good, CancellationToken.None)).Version);
    }
}
