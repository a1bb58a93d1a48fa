using System.Numerics.Tensors;
using System.Text.Json.Nodes;

namespace RouteIQ.Routing;

/// <summary>Settings of <see cref="HashedTfidfFeaturizer"/>; all recorded in the model file.</summary>
public sealed record TfidfOptions
{
    /// <summary>Number of hash buckets (the vector length).</summary>
    public int Dimension { get; init; } = 2048;

    public int CharNgramMin { get; init; } = 3;

    public int CharNgramMax { get; init; } = 5;

    /// <summary>Word n-grams from 1 to this (0 switches word features off).</summary>
    public int WordNgramMax { get; init; } = 2;

    /// <summary>Weight of word features relative to character n-grams.</summary>
    public float WordWeight { get; init; } = 1f;

    /// <summary>1 + ln(tf) instead of tf.</summary>
    public bool SublinearTf { get; init; } = true;

    /// <summary>Characters of the query that are read; the rest is ignored (bounds latency on huge inputs).</summary>
    public int MaxChars { get; init; } = 4096;

    public void Validate()
    {
        if (Dimension is < 16 or > 1 << 22)
        {
            throw new RoutingDataException("FEATURE_DIM", $"must be in [16, 4194304], got {Dimension}");
        }
        if (CharNgramMin < 1 || CharNgramMax < CharNgramMin || CharNgramMax > 16)
        {
            throw new RoutingDataException("CHAR_NGRAMS", $"need 1 <= min <= max <= 16, got {CharNgramMin}-{CharNgramMax}");
        }
        if (WordNgramMax is < 0 or > 4)
        {
            throw new RoutingDataException("WORD_NGRAMS", $"must be in [0, 4], got {WordNgramMax}");
        }
        if (MaxChars < 1)
        {
            throw new RoutingDataException("MAX_CHARS", $"must be positive, got {MaxChars}");
        }
    }
}

/// <summary>
/// Word and character n-grams hashed into a fixed number of buckets, weighted by TF-IDF
/// (sublinear tf, smoothed idf) and L2-normalised. Needs no model files: the idf table is
/// learned from the training queries and stored in the model file.
/// </summary>
public sealed class HashedTfidfFeaturizer : IFeaturizer
{
    public const string KindName = "tfidf-hash";
    private const ulong CharSeed = 0x5EED_C4A2UL;
    private const ulong WordSeed = 0x5EED_30D5UL;

    private readonly float[] _idf;

    public HashedTfidfFeaturizer(TfidfOptions options, float[] idf)
    {
        options.Validate();
        if (idf.Length != options.Dimension)
        {
            throw new InvalidModelException($"idf table has {idf.Length} entries for dimension {options.Dimension}");
        }
        Options = options;
        _idf = idf;
    }

    public TfidfOptions Options { get; }

    public string Kind => KindName;

    public int Dimension => Options.Dimension;

    /// <summary>Learns the idf of each bucket from <paramref name="texts"/>.</summary>
    public static HashedTfidfFeaturizer Fit(IReadOnlyList<string> texts, TfidfOptions options)
    {
        options.Validate();
        var df = new int[options.Dimension];
        var seen = new HashSet<int>();
        var unit = new HashedTfidfFeaturizer(options, Enumerable.Repeat(1f, options.Dimension).ToArray());
        foreach (var text in texts)
        {
            seen.Clear();
            unit.ForEachTerm(text, (bucket, _) => seen.Add(bucket));
            foreach (var b in seen)
            {
                df[b]++;
            }
        }
        var n = texts.Count;
        var idf = new float[options.Dimension];
        for (var i = 0; i < idf.Length; i++)
        {
            idf[i] = (float)(Math.Log((1.0 + n) / (1.0 + df[i])) + 1.0);
        }
        return new HashedTfidfFeaturizer(options, idf);
    }

    public void Featurize(string text, Span<float> output)
    {
        if (output.Length != Dimension)
        {
            throw new ArgumentException($"output has length {output.Length}, expected {Dimension}", nameof(output));
        }
        output.Clear();
        AccumulateCounts(text, output);
        var sublinear = Options.SublinearTf;
        for (var i = 0; i < output.Length; i++)
        {
            var tf = output[i];
            if (tf > 0)
            {
                output[i] = (sublinear ? 1f + MathF.Log(tf) : tf) * _idf[i];
            }
        }
        var norm = TensorPrimitives.Norm(output);
        if (norm > 0)
        {
            TensorPrimitives.Divide(output, norm, output);
        }
    }

    private void AccumulateCounts(string text, Span<float> counts)
    {
        // Inlined twin of ForEachTerm without the delegate: this is the hot path of routing.
        var dim = (ulong)Dimension;
        Span<char> buffer = stackalloc char[Math.Min(text.Length, Options.MaxChars) + 2];
        var len = Normalise(text, buffer);
        var norm = buffer[..len];
        for (var n = Options.CharNgramMin; n <= Options.CharNgramMax; n++)
        {
            for (var i = 0; i + n <= norm.Length; i++)
            {
                counts[(int)(StableHash.Chars(norm.Slice(i, n), CharSeed) % dim)] += 1f;
            }
        }
        if (Options.WordNgramMax > 0)
        {
            var w = Options.WordWeight;
            Span<ulong> window = stackalloc ulong[Options.WordNgramMax];
            var filled = 0;
            foreach (var word in Words(norm))
            {
                for (var k = Math.Min(filled, window.Length - 1); k > 0; k--)
                {
                    window[k] = window[k - 1];
                }
                window[0] = StableHash.Chars(norm.Slice(word.Start, word.Length), WordSeed);
                filled = Math.Min(filled + 1, window.Length);
                var h = 0UL;
                for (var k = 0; k < filled; k++)
                {
                    h = StableHash.Mix(h * 31 + window[k] + (ulong)k);
                    counts[(int)(h % dim)] += w;
                }
            }
        }
    }

    private void ForEachTerm(string text, Action<int, float> onTerm)
    {
        var counts = new float[Dimension];
        AccumulateCounts(text, counts);
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] > 0)
            {
                onTerm(i, counts[i]);
            }
        }
    }

    /// <summary>Lower-cases, maps every run of whitespace to one space, and pads with a space at each end.</summary>
    private int Normalise(string text, Span<char> buffer)
    {
        var len = 0;
        buffer[len++] = ' ';
        var limit = Math.Min(text.Length, Options.MaxChars);
        for (var i = 0; i < limit; i++)
        {
            var c = text[i];
            if (char.IsWhiteSpace(c))
            {
                if (buffer[len - 1] != ' ')
                {
                    buffer[len++] = ' ';
                }
            }
            else
            {
                buffer[len++] = char.ToLowerInvariant(c);
            }
        }
        if (buffer[len - 1] != ' ')
        {
            buffer[len++] = ' ';
        }
        return len;
    }

    private static List<(int Start, int Length)> Words(ReadOnlySpan<char> text)
    {
        var words = new List<(int, int)>();
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var isWord = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (isWord && start < 0)
            {
                start = i;
            }
            else if (!isWord && start >= 0)
            {
                words.Add((start, i - start));
                start = -1;
            }
            else if (!isWord && i < text.Length && !char.IsWhiteSpace(text[i]))
            {
                // Punctuation is a token of its own: "?" and "=" say a lot about a query.
                words.Add((i, 1));
            }
        }
        return words;
    }

    public void Write(JsonObject header, ModelFileWriter writer, string modelDirectory)
    {
        header["featurizer"] = new JsonObject
        {
            ["kind"] = KindName,
            ["dimension"] = Options.Dimension,
            ["char_ngram_min"] = Options.CharNgramMin,
            ["char_ngram_max"] = Options.CharNgramMax,
            ["word_ngram_max"] = Options.WordNgramMax,
            ["word_weight"] = Options.WordWeight,
            ["sublinear_tf"] = Options.SublinearTf,
            ["max_chars"] = Options.MaxChars,
        };
        writer.Add("featurizer.idf", _idf, Options.Dimension);
    }

    public static HashedTfidfFeaturizer Read(JsonObject featurizer, ModelFileReader reader)
    {
        var options = new TfidfOptions
        {
            Dimension = ModelHeader.Int(featurizer, "dimension"),
            CharNgramMin = ModelHeader.Int(featurizer, "char_ngram_min"),
            CharNgramMax = ModelHeader.Int(featurizer, "char_ngram_max"),
            WordNgramMax = ModelHeader.Int(featurizer, "word_ngram_max"),
            WordWeight = (float)ModelHeader.Double(featurizer, "word_weight"),
            SublinearTf = ModelHeader.Bool(featurizer, "sublinear_tf"),
            MaxChars = ModelHeader.Int(featurizer, "max_chars"),
        };
        try
        {
            options.Validate();
        }
        catch (RoutingDataException ex)
        {
            throw new InvalidModelException($"featurizer settings are invalid: {ex.Message}");
        }
        return new HashedTfidfFeaturizer(options, reader.Array("featurizer.idf", options.Dimension));
    }

    public void Dispose()
    {
    }
}
