using System.Text;
using RouteIQ.Artifacts;
using RouteIQ.Testing;

namespace RouteIQ.Foundation.Tests;

/// <summary>
/// Issue 15 §5: one validator for ids and artifact keys, used by both stores. Hostile ids and
/// keys (<c>..</c>, <c>%2e</c>, newlines, NUL, unicode, absolute paths, backslashes) are refused
/// with the field named, and nothing a store accepts ever resolves outside its root.
/// </summary>
public sealed class IdentifierValidationTests : IDisposable
{
    private static readonly string[] Fragments =
    [
        "..", ".", "%2e", "%2E", "%2e%2e", "%2f", "%5c", "%252e", "/", "//", "\\", "\n", "\r", "\0", "\t", " ", ":", "?", "#", "~",
        "a", "b", "model", "1", "-", "_", "é", "\u202E", "．．", "\u2024\u2024", "\uD800", "😀", "C:", "\\\\server\\share", "/etc/passwd",
        "..\\", "../", "./", "%00", "\u0085", "\u2028", "\uFEFF",
    ];

    private readonly string _parent = TestInfra.TempDirectory("id-validation");
    private readonly FileArtifactStore _files;

    public IdentifierValidationTests() => _files = new FileArtifactStore(Path.Combine(_parent, "root"));

    public void Dispose() => Directory.Delete(_parent, recursive: true);

    [Theory]
    [InlineData("../../../etc")]
    [InlineData("abc\n")]
    [InlineData("abc\r\n")]
    [InlineData("a\0b")]
    [InlineData("..")]
    [InlineData("a..b")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData("%2e%2e")]
    [InlineData("ａｂｃ")]
    [InlineData("-leading-dash")]
    [InlineData("")]
    public void HostileIdsAreRefusedNamingTheField(string id)
    {
        Assert.NotNull(Identifiers.Problem(id, "dataset"));
        var ex = Assert.Throws<InvalidIdentifierException>(() => ArtifactKeys.Dataset(id));
        Assert.Equal("dataset", ex.Field);
        Assert.Throws<InvalidIdentifierException>(() => ArtifactKeys.RegistryVersion(id, 1));
    }

    [Theory]
    [InlineData("knn-router")]
    [InlineData("ds-20260101.v2")]
    [InlineData("A_1")]
    public void OrdinaryIdsPass(string id) => Assert.Null(Identifiers.Problem(id, "model"));

    [Fact]
    public void ALongIdIsRefused() => Assert.Contains("longer than 128", Identifiers.Problem(new string('a', 129), "model"));

    [Theory]
    [InlineData("%2e%2e/%2e%2e/etc/passwd")]
    [InlineData("datasets/%2e%2e/%2e%2e/x")]
    [InlineData("a/../../b")]
    [InlineData("a/./b")]
    [InlineData("a//b")]
    [InlineData("..\\..\\x")]
    [InlineData("C:/Windows")]
    [InlineData("a?b/../c")]
    [InlineData("a#/../../c")]
    [InlineData("datasets/abc\n/x")]
    [InlineData("x\0y")]
    public void HostileKeysAreRefusedByBothStores(string key)
    {
        Assert.Throws<InvalidIdentifierException>(() => ArtifactKeys.Normalize(key));
        Assert.Throws<InvalidIdentifierException>(() => _files.GetUri(key));
        Assert.Throws<InvalidIdentifierException>(() => _files.GetPath(key));
        using var s3 = S3Store();
        Assert.Throws<InvalidIdentifierException>(() => s3.ObjectKey(key));
        Assert.Throws<InvalidIdentifierException>(() => s3.GetUri(key));
    }

    [Fact]
    public async Task ThousandsOfGeneratedKeysNeverResolveOutsideTheRoot()
    {
        var random = new Random(1505);
        using var s3 = S3Store();
        var root = _files.RootDirectory.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        var accepted = 0;
        for (var i = 0; i < 5000; i++)
        {
            var key = Generate(random);
            string path, uriPath, objectKey;
            try
            {
                path = _files.GetPath(key);
                uriPath = new Uri(_files.GetUri(key)).LocalPath;
                objectKey = s3.ObjectKey(key);
            }
            catch (InvalidIdentifierException ex)
            {
                Assert.Equal("key", ex.Field);
                continue;
            }
            accepted++;
            Assert.StartsWith(root, Path.GetFullPath(path), StringComparison.Ordinal);
            Assert.StartsWith(root, Path.GetFullPath(uriPath), StringComparison.Ordinal);
            Assert.StartsWith("tests/prefix/", objectKey, StringComparison.Ordinal);
            Assert.DoesNotContain(objectKey.Split('/'), s => s is "." or "..");
            if (!key.EndsWith('/'))
            {
                try
                {
                    await _files.PutAsync(key, new MemoryStream([1]));
                }
                catch (IOException)
                {
                    // "a" stored as a file earlier and now "a/b": a clash inside the root, not an escape.
                }
            }
        }
        // Keys made only of ordinary fragments are accepted: the generator exercises both sides.
        Assert.True(accepted > 100, $"only {accepted} keys accepted");
        // Nothing was written beside the root.
        Assert.Equal(["root"], Directory.EnumerateFileSystemEntries(_parent).Select(Path.GetFileName));
    }

    [Fact]
    public void ThousandsOfGeneratedIdsAreEitherRefusedOrPlainNames()
    {
        var random = new Random(1506);
        for (var i = 0; i < 5000; i++)
        {
            var id = Generate(random);
            if (Identifiers.Problem(id, "id") is not null)
            {
                Assert.Throws<InvalidIdentifierException>(() => ArtifactKeys.PublishedModel(id));
                continue;
            }
            Assert.Matches(@"\A[A-Za-z0-9][A-Za-z0-9_.\-]*\z", id);
            Assert.DoesNotContain("..", id);
            Assert.Equal(Path.Combine(_files.RootDirectory, "models", id), Path.GetFullPath(Path.Combine(_files.RootDirectory, "models", id)));
        }
    }

    private static string Generate(Random random)
    {
        var builder = new StringBuilder();
        if (random.Next(4) == 0)
        {
            builder.Append('/');
        }
        for (var n = 1 + random.Next(6); n > 0; n--)
        {
            // Ordinary fragments half the time, so that accepted keys are common too.
            builder.Append(random.Next(2) == 0 ? Fragments[20 + random.Next(5)] + (random.Next(3) == 0 ? "/" : "") : Fragments[random.Next(Fragments.Length)]);
        }
        return builder.ToString();
    }

    private static S3ArtifactStore S3Store() => S3ArtifactStore.Create("bucket", "tests/prefix", new S3Settings
    {
        ServiceUrl = "http://127.0.0.1:9",
        AccessKey = "x",
        SecretKey = "y",
        S3Compatible = true,
        ForcePathStyle = true,
    });
}
