using System.Text.Json;

namespace RouteIQ.Workloads;

/// <summary>
/// One JSON file per started process under the state directory, so a runner restarted after a
/// <c>kill -9</c> finds the processes its predecessor left behind and can stop them.
/// </summary>
internal sealed class ProcessStateStore(string directory)
{
    public string Directory { get; } = directory;

    public sealed record Entry
    {
        public required string Name { get; init; }
        public required int Pid { get; init; }
        public required long StartTime { get; init; }
        public bool OwnGroup { get; init; }
        public Dictionary<string, string> Labels { get; init; } = [];
        public DateTimeOffset StartedAt { get; init; }
    }

    public void Save(Entry entry)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var path = PathOf(entry.Name);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(entry));
        File.Move(temporary, path, overwrite: true);
    }

    public void Delete(string name)
    {
        try
        {
            File.Delete(PathOf(name));
        }
        catch (IOException)
        {
            // A record that cannot be deleted now is checked (and found dead) on the next restart.
        }
    }

    public IEnumerable<Entry> ReadAll()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            yield break;
        }
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory, "*.json"))
        {
            Entry? entry;
            try
            {
                entry = JsonSerializer.Deserialize<Entry>(File.ReadAllText(file));
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                continue;
            }
            if (entry is not null)
            {
                yield return entry;
            }
        }
    }

    private string PathOf(string name)
    {
        var safe = string.Concat(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
        return Path.Combine(Directory, safe + ".json");
    }
}
