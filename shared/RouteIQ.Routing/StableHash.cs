using System.Runtime.InteropServices;

namespace RouteIQ.Routing;

/// <summary>
/// Hashes that never change between processes, runtimes or machines (string.GetHashCode is
/// randomised per process), so features, splits and model bytes are reproducible.
/// </summary>
public static class StableHash
{
    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;

    public static ulong Chars(ReadOnlySpan<char> text, ulong seed)
    {
        var h = seed ^ 0x27D4EB2F165667C5UL ^ (ulong)text.Length * Prime1;
        foreach (var c in text)
        {
            h ^= c;
            h *= Prime2;
            h = ulong.RotateLeft(h, 29);
        }
        return Mix(h);
    }

    public static ulong String(string text, ulong seed) => Chars(text.AsSpan(), seed);

    public static ulong Bytes(ReadOnlySpan<byte> data, ulong seed) => Chars(MemoryMarshal.Cast<byte, char>(data[..(data.Length & ~1)]), seed ^ (ulong)data.Length);

    /// <summary>SplitMix64 finaliser.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}

/// <summary>A tiny deterministic generator (SplitMix64) whose sequence is fixed forever, unlike System.Random's.</summary>
public sealed class SeededRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return StableHash.Mix(_state);
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public int Next(int maxExclusive) => (int)(NextUInt64() % (ulong)maxExclusive);

    /// <summary>Standard normal (Box–Muller).</summary>
    public double NextGaussian()
    {
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    public void Shuffle<T>(T[] items)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
