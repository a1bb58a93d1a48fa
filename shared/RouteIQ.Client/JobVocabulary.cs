namespace RouteIQ.Client;

/// <summary>A job's <c>state</c>.</summary>
public static class JobStates
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string Lost = "lost";

    public static readonly string[] All = [Queued, Running, Succeeded, Failed, Cancelled, Lost];

    public static bool IsTerminal(string? state) => state is Succeeded or Failed or Cancelled;
}

/// <summary>A job's <c>kind</c>.</summary>
public static class JobKinds
{
    public const string Train = "train";
    public const string Roll = "roll";
    public const string Rollback = "rollback";
}

/// <summary>Where a running job is (<c>phase</c>): a train job trains, then (train_then_roll) rolls; roll jobs only roll.</summary>
public static class JobPhases
{
    public const string Training = "training";
    public const string Rolling = "rolling";
}
