using System.Security.Cryptography;
using RouteIQ.Artifacts;
using RouteIQ.Testing;

namespace RouteIQ.Foundation.Tests;

/// <summary>One suite, run against every artifact store implementation.</summary>
[Trait("Category", "Integration")]
public abstract class ArtifactStoreContract
{
    protected abstract IArtifactStore Store { get; }

    protected abstract string ExpectedScheme { get; }

    [Fact]
    public async Task PutComputesSha256AndGetReturnsTheBytes()
    {
        var bytes = RandomNumberGenerator.GetBytes(12_345);
        var file = await Store.PutAsync("runs/j1/output/model.bin", new MemoryStream(bytes));

        Assert.Equal("runs/j1/output/model.bin", file.Path);
        Assert.Equal(bytes.Length, file.Size);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), file.Sha256);
        await using var read = await Store.OpenReadAsync("runs/j1/output/model.bin");
        var copy = new MemoryStream();
        await read.CopyToAsync(copy);
        Assert.Equal(bytes, copy.ToArray());
        Assert.True(await Store.ExistsAsync("runs/j1/output/model.bin"));
        Assert.StartsWith(ExpectedScheme + "://", Store.GetUri("runs/j1/output/model.bin"));
    }

    [Fact]
    public async Task ListsByPrefixRecursivelyInKeyOrder()
    {
        foreach (var key in new[] { "registry/m/1/b.txt", "registry/m/1/a/x.txt", "registry/m/10/c.txt", "registry/n/1/d.txt" })
        {
            await Store.PutAsync(key, new MemoryStream("x"u8.ToArray()));
        }
        var keys = new List<string>();
        await foreach (var entry in Store.ListAsync("registry/m/1/"))
        {
            keys.Add(entry.Key);
            Assert.Equal(1, entry.Size);
        }
        Assert.Equal(["registry/m/1/a/x.txt", "registry/m/1/b.txt"], keys);
        Assert.Empty(await Store.ListAsync("nothing/here/").ToListAsync());
    }

    [Fact]
    public async Task CopiesAndDeletes()
    {
        await Store.PutAsync("a/src.txt", new MemoryStream("hello"u8.ToArray()));
        await Store.CopyAsync("a/src.txt", "b/dst.txt");
        await using (var read = await Store.OpenReadAsync("b/dst.txt"))
        {
            Assert.Equal("hello", await new StreamReader(read).ReadToEndAsync());
        }
        await Store.DeleteAsync("a/src.txt");
        await Store.DeleteAsync("a/never-existed.txt");
        Assert.False(await Store.ExistsAsync("a/src.txt"));
        await Assert.ThrowsAsync<ArtifactNotFoundException>(() => Store.OpenReadAsync("a/src.txt"));
        await Assert.ThrowsAsync<ArtifactNotFoundException>(() => Store.CopyAsync("a/src.txt", "c/x.txt"));
    }

    [Fact]
    public async Task OverwriteReplacesTheObject()
    {
        await Store.PutAsync("o/k.txt", new MemoryStream("one"u8.ToArray()));
        await Store.PutAsync("o/k.txt", new MemoryStream("two"u8.ToArray()));
        await using var read = await Store.OpenReadAsync("o/k.txt");
        Assert.Equal("two", await new StreamReader(read).ReadToEndAsync());
    }

    [Theory]
    [InlineData("../escape.txt")]
    [InlineData("a/../../b")]
    public async Task RejectsKeysThatEscapeTheRoot(string key)
        => await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.PutAsync(key, new MemoryStream([1])));

    [Fact]
    public async Task StreamsOneHundredMebibytesWithoutBufferingThem()
    {
        const long size = 100L * 1024 * 1024;
        GC.Collect();
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        var source = new GeneratedStream(size, seed: 42);

        var file = await Store.PutAsync("big/object.bin", source);

        Assert.Equal(size, file.Size);
        Assert.Equal(GeneratedStream.Sha256Of(size, 42), file.Sha256);
        // The whole object would be 100 MiB; a streaming upload holds at most a part or two.
        Assert.True(source.PeakManagedBytes - baseline < 48L * 1024 * 1024,
            $"managed memory grew by {(source.PeakManagedBytes - baseline) / 1048576} MiB while uploading");

        await using var read = await Store.OpenReadAsync("big/object.bin");
        var readBaseline = GC.GetTotalMemory(forceFullCollection: true);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[81920];
        long total = 0, peak = 0;
        int n;
        while ((n = await read.ReadAsync(buffer)) > 0)
        {
            sha.AppendData(buffer, 0, n);
            total += n;
            if ((total & 0xFFFFF) < n)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(false));
            }
        }
        Assert.Equal(size, total);
        Assert.Equal(file.Sha256, Convert.ToHexStringLower(sha.GetHashAndReset()));
        Assert.True(peak - readBaseline < 48L * 1024 * 1024, $"managed memory grew by {(peak - readBaseline) / 1048576} MiB while downloading");
    }

    /// <summary>A non-seekable stream of deterministic pseudo-random bytes that records the process's peak managed memory.</summary>
    private sealed class GeneratedStream(long length, int seed) : Stream
    {
        private readonly Random _random = new(seed);
        private long _position;

        public long PeakManagedBytes { get; private set; }

        public static string Sha256Of(long length, int seed)
        {
            using var generated = new GeneratedStream(length, seed);
            return Convert.ToHexStringLower(SHA256.HashData(generated));
        }

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - _position);
            _random.NextBytes(buffer[..n]);
            _position += n;
            if ((_position & 0xFFFFF) < n)
            {
                PeakManagedBytes = Math.Max(PeakManagedBytes, GC.GetTotalMemory(false));
            }
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

[Trait("Category", "Integration")]
public sealed class FileArtifactStoreTests : ArtifactStoreContract
{
    private readonly FileArtifactStore _store = new(TestInfra.TempDirectory("artifacts"));

    protected override IArtifactStore Store => _store;

    protected override string ExpectedScheme => "file";
}

[Trait("Category", "Integration")]
public sealed class S3ArtifactStoreTests : ArtifactStoreContract, IDisposable
{
    private readonly S3ArtifactStore _store = S3ArtifactStore.Create(TestInfra.S3Bucket, $"tests/{Guid.NewGuid():N}", new S3Settings
    {
        ServiceUrl = TestInfra.S3Url,
        AccessKey = TestInfra.S3AccessKey,
        SecretKey = TestInfra.S3SecretKey,
        S3Compatible = true,
        ForcePathStyle = true,
    });

    protected override IArtifactStore Store => _store;

    protected override string ExpectedScheme => "s3";

    public void Dispose() => _store.Dispose();
}
