using System.Text.RegularExpressions;

namespace RouteIQ.Cli.Tests;

/// <summary>
/// Every place that names one of our images names it <c>routeiq/&lt;name&gt;:dev</c>, the tag
/// scripts/build-images.sh and compose build: the shipped specs, compose, Kubernetes, scripts
/// and the end-to-end tests. (The specs once named <c>routeiq/router-trainer</c> without a tag, which the
/// Docker launcher then could not find.)
/// </summary>
public sealed partial class OneImageNameConventionTests
{
    private const string Tag = "dev";

    private static readonly string[] OurImages = ["router-trainer", "router-server", "gateway-admin", "trainer-runner", "rollout", "telemetry-ingest"];

    [GeneratedRegex(@"routeiq/(?<name>router-trainer|router-server|gateway-admin|trainer-runner|rollout|telemetry-ingest)(?<tag>:[A-Za-z0-9_.${}:-]+)?(?![A-Za-z0-9/_.-])")]
    private static partial Regex ImageReference();

    private static IEnumerable<string> Files()
    {
        var root = Repository.Root;
        // The end-to-end suites run our real images; unit tests use image names as plain strings.
        var patterns = new[]
        {
            ("deploy", "*.yaml"), ("deploy", "*.yml"), ("scripts", "*.sh"),
            (Path.Combine("tests", "RouteIQ.EndToEnd.Tests"), "*.cs"), (Path.Combine("tests", "RouteIQ.Routing.Tests"), "*.cs"),
        };
        foreach (var (dir, pattern) in patterns)
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(root, dir), pattern, SearchOption.AllDirectories))
            {
                if (!file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    && !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                    && !file.EndsWith(nameof(OneImageNameConventionTests) + ".cs", StringComparison.Ordinal))
                {
                    yield return file;
                }
            }
        }
    }

    [Fact]
    public void EveryReferenceToOurImagesUsesTheBuiltTag()
    {
        var wrong = new List<string>();
        var seen = 0;
        foreach (var file in Files())
        {
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                // build-images.sh composes its names from $name and $TAG (checked below).
                foreach (Match m in ImageReference().Matches(lines[i]))
                {
                    if (lines[i].TrimStart().StartsWith('#') || lines[i].TrimStart().StartsWith("//", StringComparison.Ordinal) || lines[i].TrimStart().StartsWith("///", StringComparison.Ordinal))
                    {
                        continue;
                    }
                    seen++;
                    if (m.Groups["tag"].Value != ":" + Tag)
                    {
                        wrong.Add($"{Path.GetRelativePath(Repository.Root, file)}:{i + 1}: {m.Value}");
                    }
                }
            }
        }
        Assert.True(seen >= 10, $"only {seen} image references found; the scan is looking in the wrong places");
        Assert.True(wrong.Count == 0, $"image names without the :{Tag} tag:\n" + string.Join('\n', wrong));
    }

    [Fact]
    public void TheBuildScriptAndComposeBuildThatTag()
    {
        var script = File.ReadAllText(Path.Combine(Repository.Root, "scripts", "build-images.sh"));
        Assert.Contains($"TAG=${{ROUTEIQ_IMAGE_TAG:-{Tag}}}", script);
        Assert.Contains("local image=\"routeiq/$name:$TAG\"", script);
        Assert.Contains("build_one router-trainer ", script);
        Assert.Contains("build_one router-server ", script);

        var compose = File.ReadAllText(Path.Combine(Repository.Root, "deploy", "docker-compose.yml"));
        foreach (var name in OurImages)
        {
            Assert.Contains($"image: routeiq/{name}:{Tag}", compose);
        }
    }
}
