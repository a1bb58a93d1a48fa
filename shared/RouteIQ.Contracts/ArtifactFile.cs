namespace RouteIQ.Contracts;

/// <summary>One file of a run output, model version or dataset, relative to its folder.</summary>
public sealed record ArtifactFile(string Path, string Sha256, long Size);
