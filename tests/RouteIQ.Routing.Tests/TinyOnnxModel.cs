using System.Text;

namespace RouteIQ.Routing.Tests;

/// <summary>
/// Writes a minimal BERT-shaped ONNX encoder by hand (protobuf wire format, no tooling):
/// inputs <c>input_ids</c> and <c>attention_mask</c> [batch, seq] int64, one Gather from an
/// embedding table, output <c>last_hidden_state</c> [batch, seq, hidden]. Plus its WordPiece vocabulary.
/// </summary>
public static class TinyOnnxModel
{
    public static readonly string[] Special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    /// <summary>Writes model.onnx and vocab.txt into <paramref name="directory"/>; <paramref name="embed"/> gives each token's vector.</summary>
    public static (string Model, string Vocab) Write(string directory, IReadOnlyList<string> words, int hidden, Func<string, float[]> embed)
    {
        var vocab = Special.Concat(words).ToList();
        var vocabPath = Path.Combine(directory, "vocab.txt");
        File.WriteAllText(vocabPath, string.Join('\n', vocab) + "\n");
        var table = new float[vocab.Count * hidden];
        for (var i = 0; i < vocab.Count; i++)
        {
            var v = Special.Contains(vocab[i]) ? new float[hidden] : embed(vocab[i]);
            v.CopyTo(table, i * hidden);
        }
        var raw = new byte[table.Length * 4];
        Buffer.BlockCopy(table, 0, raw, 0, raw.Length);

        var initializer = Message(w =>
        {
            w.Int(1, vocab.Count);
            w.Int(1, hidden);
            w.Int(2, 1); // FLOAT
            w.String(8, "embeddings");
            w.Bytes(9, raw);
        });
        var node = Message(w =>
        {
            w.String(1, "embeddings");
            w.String(1, "input_ids");
            w.String(2, "last_hidden_state");
            w.String(3, "gather");
            w.String(4, "Gather");
        });
        var graph = Message(w =>
        {
            w.Bytes(1, node);
            w.String(2, "tiny-encoder");
            w.Bytes(5, initializer);
            w.Bytes(11, ValueInfo("input_ids", 7, "batch", "seq"));
            w.Bytes(11, ValueInfo("attention_mask", 7, "batch", "seq"));
            w.Bytes(12, ValueInfo("last_hidden_state", 1, "batch", "seq", hidden));
        });
        var model = Message(w =>
        {
            w.Int(1, 7); // ir_version
            w.String(2, "routeiq-tests");
            w.Bytes(7, graph);
            w.Bytes(8, Message(o => { o.String(1, ""); o.Int(2, 13); }));
        });
        var modelPath = Path.Combine(directory, "model.onnx");
        File.WriteAllBytes(modelPath, model);
        return (modelPath, vocabPath);
    }

    private static byte[] ValueInfo(string name, int elemType, params object[] dims)
    {
        var shape = Message(w =>
        {
            foreach (var d in dims)
            {
                w.Bytes(1, Message(x =>
                {
                    if (d is string p)
                    {
                        x.String(2, p);
                    }
                    else
                    {
                        x.Int(1, (int)d);
                    }
                }));
            }
        });
        var tensorType = Message(w => { w.Int(1, elemType); w.Bytes(2, shape); });
        return Message(w => { w.String(1, name); w.Bytes(2, Message(t => t.Bytes(1, tensorType))); });
    }

    private static byte[] Message(Action<Writer> build)
    {
        var w = new Writer();
        build(w);
        return w.Stream.ToArray();
    }

    private sealed class Writer
    {
        public MemoryStream Stream { get; } = new();

        private void Varint(ulong v)
        {
            while (v >= 0x80)
            {
                Stream.WriteByte((byte)(v | 0x80));
                v >>= 7;
            }
            Stream.WriteByte((byte)v);
        }

        public void Int(int field, long value)
        {
            Varint((ulong)(field << 3));
            Varint((ulong)value);
        }

        public void Bytes(int field, byte[] value)
        {
            Varint((ulong)((field << 3) | 2));
            Varint((ulong)value.Length);
            Stream.Write(value);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));
    }
}
