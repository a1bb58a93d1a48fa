using Microsoft.Extensions.Logging.Abstractions;
using RouteIQ.GatewayAdmin.Specs;
using RouteIQ.Testing;

namespace RouteIQ.GatewayAdmin.Tests;

public sealed class TrainerSpecStoreTests
{
    [Fact]
    public void Files_merge_in_name_order_and_a_later_file_replaces_a_trainer()
    {
        var dir = TestInfra.TempDirectory("specs-merge");
        File.WriteAllText(Path.Combine(dir, "10-base.yaml"), "a:\n  trainer_image: first\nb:\n  trainer_image: only-b\n");
        File.WriteAllText(Path.Combine(dir, "20-override.json"), "{\"a\": {\"trainer_image\": \"second\"}}");
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "ignored: true");

        var store = new TrainerSpecStore(dir, _ => null, NullLogger<TrainerSpecStore>.Instance);

        Assert.Empty(store.Current.Errors);
        Assert.Equal("second", store.Current.Trainers["a"].TrainerImage);
        Assert.Equal("only-b", store.Current.Trainers["b"].TrainerImage);
        Assert.Equal(2, store.Current.Trainers.Count);
    }

    [Fact]
    public void A_broken_file_keeps_its_last_good_trainers_and_reports_file_and_line()
    {
        var dir = TestInfra.TempDirectory("specs-lastgood");
        var file = Path.Combine(dir, "t.yaml");
        File.WriteAllText(file, "t:\n  trainer_image: good\n");
        var store = new TrainerSpecStore(dir, _ => null, NullLogger<TrainerSpecStore>.Instance);
        Assert.Equal("good", store.Current.Trainers["t"].TrainerImage);

        File.WriteAllText(file, "t:\n  trainer_image: newer\n  bogus: 1\n");
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddSeconds(5));
        Assert.True(store.Reload());

        Assert.Equal("good", store.Current.Trainers["t"].TrainerImage);
        var error = Assert.Single(store.Current.Errors);
        Assert.Equal(file, error.File);
        Assert.Equal(3, error.Line);
        Assert.Contains("bogus", error.Reason);

        File.WriteAllText(file, "t:\n  trainer_image: fixed\n");
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddSeconds(10));
        store.Reload();
        Assert.Empty(store.Current.Errors);
        Assert.Equal("fixed", store.Current.Trainers["t"].TrainerImage);
    }

    [Fact]
    public void A_missing_path_is_an_error_not_an_empty_list_silently()
    {
        var store = new TrainerSpecStore("/nonexistent/specs-" + Guid.NewGuid(), _ => null, NullLogger<TrainerSpecStore>.Instance);
        Assert.Empty(store.Current.Trainers);
        Assert.Contains("does not exist", Assert.Single(store.Current.Errors).Reason);
    }

    [Fact]
    public void A_single_file_path_is_loaded()
    {
        var dir = TestInfra.TempDirectory("specs-single");
        var file = Path.Combine(dir, "one.yml");
        File.WriteAllText(file, "solo:\n  trainer_image: s\n");
        var store = new TrainerSpecStore(file, _ => null, NullLogger<TrainerSpecStore>.Instance);
        Assert.Equal("s", store.Current.Trainers["solo"].TrainerImage);
    }
}
