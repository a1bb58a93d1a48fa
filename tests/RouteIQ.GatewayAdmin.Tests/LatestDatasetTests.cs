using RouteIQ.Artifacts;
using RouteIQ.GatewayAdmin.Api;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

/// <summary>A train that names no dataset gets the newest complete one in the store (gateway-admin decides, so every client gets the same).</summary>
public sealed class LatestDatasetTests
{
    private static async Task PutAsync(IArtifactStore store, string key, DateTime modified)
    {
        await store.PutAsync(key, new MemoryStream("{}"u8.ToArray()));
        File.SetLastWriteTimeUtc(((FileArtifactStore)store).GetPath(key), modified);
    }

    [Fact]
    public async Task The_newest_complete_dataset_wins_and_an_unfinished_or_nested_one_does_not()
    {
        var store = new FileArtifactStore(TestInfra.TempDirectory("latest-dataset"));
        Assert.Null(await LatestDataset.FindAsync(store, CancellationToken.None));

        var t0 = new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc);
        await PutAsync(store, "datasets/ds-old/conversion_metadata.json", t0);
        await PutAsync(store, "datasets/zz-custom-id/conversion_metadata.json", t0.AddDays(2));
        await PutAsync(store, "datasets/ds-a/conversion_metadata.json", t0.AddDays(1));
        // Being written (no metadata yet), and a file deeper down: neither counts.
        await PutAsync(store, "datasets/ds-building/routing_train.jsonl", t0.AddDays(5));
        await PutAsync(store, "datasets/ds-x/extra/conversion_metadata.json", t0.AddDays(6));

        Assert.Equal("zz-custom-id", await LatestDataset.FindAsync(store, CancellationToken.None));
    }
}
