using System.Security.Cryptography;

namespace RouteIQ.Artifacts;

/// <summary>Reads through another stream, hashing (SHA-256) and counting what passes.</summary>
internal sealed class HashingReadStream(Stream inner) : ReadThroughStream(inner, ownsInner: false)
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public string Sha256Hex() => Convert.ToHexStringLower(_hash.GetHashAndReset());

    protected override void Passed(ReadOnlySpan<byte> bytes) => _hash.AppendData(bytes);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }
        base.Dispose(disposing);
    }
}
