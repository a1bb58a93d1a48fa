using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using RouteIQ.Routing;
using RouteIQ.Testing;

namespace RouteIQ.Routing.Tests;

public sealed class ModelFileTests
{
    private static readonly Lazy<byte[]> KnnBytes = new(() =>
    {
        using var model = SyntheticData.Spec("knn").Train(SyntheticData.Dataset(60, seed: 21));
        return model.ToBytes(TestInfra.TempDirectory("model-file"));
    });

    private static InvalidModelException Load(byte[] bytes) =>
        Assert.Throws<InvalidModelException>(() => RouterModel.FromBytes(bytes, TestInfra.TempDirectory("model-file")));

    [Theory]
    [InlineData("knn")]
    [InlineData("mlp")]
    [InlineData("mf")]
    public void A_saved_model_loads_and_routes_exactly_as_before(string type)
    {
        var dir = TestInfra.TempDirectory("model-file");
        using var trained = SyntheticData.Spec(type).Train(SyntheticData.Dataset(120, seed: 22));
        trained.Save(dir);

        using var loaded = RouterModel.Load(dir);

        foreach (var (query, _) in SyntheticData.Queries(20, seed: 23))
        {
            var a = trained.Route(query);
            var b = loaded.Route(query);
            Assert.Equal(a.Model, b.Model);
            Assert.Equal(a.Scores, b.Scores);
        }
        Assert.Equal(trained.Models, loaded.Models);
        Assert.Equal(trained.Prices, loaded.Prices);
        Assert.Equal(type, loaded.Hyperparameters["router_type"]!.GetValue<string>());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(47)]
    [InlineData(1000)]
    public void A_truncated_file_is_refused(int keep)
    {
        var bytes = KnnBytes.Value;
        var error = Load(bytes[..keep]);
        Assert.Matches(keep < 48 ? "truncated" : "truncated|checksum", error.Message);
    }

    [Fact]
    public void A_file_cut_short_by_one_byte_fails_its_checksum()
    {
        var bytes = KnnBytes.Value;
        Assert.Contains("checksum", Load(bytes[..^1]).Message);
    }

    [Fact]
    public void A_flipped_payload_bit_fails_the_checksum()
    {
        var bytes = (byte[])KnnBytes.Value.Clone();
        bytes[bytes.Length / 2] ^= 0x10;
        Assert.Contains("checksum mismatch", Load(bytes).Message);
    }

    [Fact]
    public void A_wrong_magic_or_version_is_named()
    {
        var bytes = (byte[])KnnBytes.Value.Clone();
        bytes[0] = (byte)'X';
        Assert.Contains("bad magic", Load(bytes).Message);

        bytes = (byte[])KnnBytes.Value.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), 99);
        Assert.Contains("unsupported model format version 99", Load(bytes).Message);
    }

    [Theory]
    [InlineData("\"examples\":60", "\"examples\":61", "has shape [60,256], expected [61,256]")]
    [InlineData("\"k\":10", "\"k\":-1", "kNN settings are invalid")]
    [InlineData("\"router_type\":\"knn\"", "\"router_type\":\"mlp\"", "disagree")]
    [InlineData("\"format\":\"routeiq-router\"", "\"format\":\"pickle\"", "'format'")]
    public void A_tampered_header_with_a_recomputed_checksum_is_still_refused(string from, string to, string expected)
    {
        // An attacker who rewrites the checksum too: the header's own consistency checks catch it.
        var bytes = KnnBytes.Value;
        var headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        var header = Encoding.UTF8.GetString(bytes, 16, headerLength);
        var tampered = header.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(header, tampered);

        Assert.Contains(expected, Load(Rebuild(bytes, tampered)).Message);
    }

    [Fact]
    public void A_header_that_is_not_json_is_refused()
    {
        var bytes = KnnBytes.Value;
        var headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        var rebuilt = Rebuild(bytes, new string('{', headerLength));
        Assert.Contains("header", Load(rebuilt).Message);
    }

    [Fact]
    public void Random_corruption_never_crashes_and_never_loads()
    {
        var rng = new SeededRandom(31);
        var original = KnnBytes.Value;
        for (var i = 0; i < 300; i++)
        {
            var bytes = (byte[])original.Clone();
            var flips = 1 + rng.Next(4);
            for (var f = 0; f < flips; f++)
            {
                bytes[rng.Next(bytes.Length)] ^= (byte)(1 + rng.Next(255));
            }
            Load(bytes);
        }
    }

    [Fact]
    public void Garbage_and_empty_files_are_refused_with_a_message()
    {
        var dir = TestInfra.TempDirectory("model-file");
        Assert.Contains("no 'router.model'", Assert.Throws<InvalidModelException>(() => RouterModel.Load(dir)).Message);
        File.WriteAllBytes(Path.Combine(dir, RouterModel.FileName), []);
        Assert.Contains("truncated", Assert.Throws<InvalidModelException>(() => RouterModel.Load(dir)).Message);
        File.WriteAllBytes(Path.Combine(dir, RouterModel.FileName), RandomNumberGenerator.GetBytes(5000));
        Assert.Contains("magic", Assert.Throws<InvalidModelException>(() => RouterModel.Load(dir)).Message);
    }

    /// <summary>Replaces the header and recomputes the trailer checksum, as a careful attacker would.</summary>
    private static byte[] Rebuild(byte[] original, string header)
    {
        var oldLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(original.AsSpan(12));
        var json = Encoding.UTF8.GetBytes(header);
        using var ms = new MemoryStream();
        ms.Write(original, 0, 12);
        var len = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(len, (uint)json.Length);
        ms.Write(len);
        ms.Write(json);
        ms.Write(original, 16 + oldLength, original.Length - 16 - oldLength - 32);
        ms.Write(SHA256.HashData(ms.ToArray()));
        return ms.ToArray();
    }
}
