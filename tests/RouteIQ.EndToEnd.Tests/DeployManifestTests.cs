using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace RouteIQ.EndToEnd.Tests;

/// <summary>deploy/ parses, and references only images the repo builds and files the repo has.</summary>
[Trait("Category", "Integration")]
public sealed partial class DeployManifestTests
{
    private static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RouteIQ.sln")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("RouteIQ.sln not found above " + AppContext.BaseDirectory);
    }

    private static YamlMappingNode LoadCompose()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(File.ReadAllText(Path.Combine(Root, "deploy", "docker-compose.yml"))));
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    private static IEnumerable<(string Name, YamlMappingNode Node)> ComposeServices()
        => ((YamlMappingNode)LoadCompose()["services"]).Children.Select(c => (((YamlScalarNode)c.Key).Value!, (YamlMappingNode)c.Value));

    private static HashSet<string> ImagesBuiltByCompose()
        => ComposeServices().Where(s => s.Node.Children.ContainsKey("build")).Select(s => ((YamlScalarNode)s.Node["image"]).Value!).ToHashSet();

    [Fact]
    public void ComposeBuildsEveryRouteIQImageFromADockerfileInTheRepo()
    {
        var composeDir = Path.Combine(Root, "deploy");
        foreach (var (name, node) in ComposeServices())
        {
            var image = node.Children.TryGetValue("image", out var i) ? ((YamlScalarNode)i).Value! : null;
            if (node.Children.TryGetValue("build", out var buildNode))
            {
                var build = (YamlMappingNode)buildNode;
                var context = Path.GetFullPath(Path.Combine(composeDir, ((YamlScalarNode)build["context"]).Value!));
                var dockerfile = Path.Combine(context, ((YamlScalarNode)build["dockerfile"]).Value!);
                Assert.True(Directory.Exists(context), $"{name}: build context {context} missing");
                Assert.True(File.Exists(dockerfile), $"{name}: {dockerfile} missing");
                AssertDockerfileReferencesExist(dockerfile);
                if (build.Children.TryGetValue("args", out var argsNode))
                {
                    // The shared service Dockerfile publishes services/{SERVICE}/{PROJECT}.csproj.
                    var args = ((YamlMappingNode)argsNode).Children.ToDictionary(a => ((YamlScalarNode)a.Key).Value!, a => ((YamlScalarNode)a.Value).Value!);
                    var project = Path.Combine(Root, "services", args["SERVICE"], args["PROJECT"] + ".csproj");
                    Assert.True(File.Exists(project), $"{name}: build args name {project}, which does not exist");
                }
            }
            else
            {
                Assert.False(image is null || image.StartsWith("routeiq/", StringComparison.Ordinal), $"{name}: routeiq image {image} has no build");
                Assert.Matches(PinnedTag(), image!); // third-party images are pinned, never :latest
                Assert.DoesNotContain(":latest", image!, StringComparison.Ordinal);
            }
        }
        var builtImages = ImagesBuiltByCompose();
        foreach (var required in new[] { "routeiq/gateway-admin:dev", "routeiq/trainer-runner:dev", "routeiq/rollout:dev", "routeiq/telemetry-ingest:dev", "routeiq/router-trainer:dev", "routeiq/router-server:dev" })
        {
            Assert.Contains(required, builtImages);
        }
    }

    [Fact]
    public void ComposeMountsOnlyFilesThatExist()
    {
        foreach (var (name, node) in ComposeServices())
        {
            if (!node.Children.TryGetValue("volumes", out var volumes))
            {
                continue;
            }
            foreach (var volume in ((YamlSequenceNode)volumes).Children.Cast<YamlScalarNode>())
            {
                var source = volume.Value!.Split(':')[0];
                if (source.StartsWith("./", StringComparison.Ordinal) || source.StartsWith("../", StringComparison.Ordinal))
                {
                    Assert.True(Path.Exists(Path.Combine(Root, "deploy", source)), $"{name}: mounted {source} does not exist");
                }
            }
        }
    }

    [Fact]
    public void KubernetesManifestsParseAndUseOnlyImagesTheRepoBuilds()
    {
        var builtImages = ImagesBuiltByCompose();
        var files = Directory.GetFiles(Path.Combine(Root, "deploy", "k8s"), "*.yaml");
        Assert.NotEmpty(files);
        var kinds = new List<string>();
        foreach (var file in files)
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(File.ReadAllText(file)));
            foreach (var doc in stream.Documents)
            {
                var root = (YamlMappingNode)doc.RootNode;
                Assert.True(root.Children.ContainsKey("apiVersion"), $"{file}: a document without apiVersion");
                var kind = ((YamlScalarNode)root["kind"]).Value!;
                kinds.Add(kind);
                Assert.False(string.IsNullOrEmpty(((YamlScalarNode)((YamlMappingNode)root["metadata"])["name"]).Value), $"{file}: {kind} without a name");
                foreach (var image in Scalars(root).Where(s => s.Key == "image").Select(s => s.Value))
                {
                    Assert.Contains(image, builtImages);
                }
            }
        }
        Assert.Contains("DaemonSet", kinds);
        Assert.True(kinds.Count(k => k == "Deployment") >= 3);
    }

    [Fact]
    public void ExampleTrainerSpecsExist()
    {
        var specs = Path.Combine(Root, "deploy", "trainer-specs");
        Assert.True(File.Exists(Path.Combine(specs, "knn-router.yaml")), "deploy/trainer-specs/knn-router.yaml is what the demo trains");
    }

    private static IEnumerable<(string Key, string Value)> Scalars(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode map:
                foreach (var (k, v) in map.Children)
                {
                    if (v is YamlScalarNode s)
                    {
                        yield return (((YamlScalarNode)k).Value!, s.Value!);
                    }
                    foreach (var inner in Scalars(v))
                    {
                        yield return inner;
                    }
                }
                break;
            case YamlSequenceNode seq:
                foreach (var item in seq.Children.SelectMany(Scalars))
                {
                    yield return item;
                }
                break;
        }
    }

    /// <summary>Every project a Dockerfile publishes exists.</summary>
    private static void AssertDockerfileReferencesExist(string dockerfile)
    {
        foreach (Match m in CsprojReference().Matches(File.ReadAllText(dockerfile)))
        {
            Assert.True(File.Exists(Path.Combine(Root, m.Value)), $"{dockerfile} publishes {m.Value}, which does not exist");
        }
    }

    [GeneratedRegex(@"[\w./-]+\.csproj")]
    private static partial Regex CsprojReference();

    [GeneratedRegex(@"^[\w./-]+:[\w.-]+$")]
    private static partial Regex PinnedTag();
}
