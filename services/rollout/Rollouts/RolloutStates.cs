namespace RouteIQ.Rollout.Rollouts;

/// <summary>States of a promotion (<c>GET /admin/rollouts/{id}</c>'s <c>state</c>).</summary>
public static class RolloutStates
{
    public const string Gating = "gating";
    public const string Shadow = "shadow";
    public const string Canary = "canary";
    public const string Promoted = "promoted";
    public const string RolledBack = "rolled_back";
    public const string Aborted = "aborted";
    public const string Failed = "failed";

    public static readonly string[] InFlight = [Gating, Shadow, Canary];

    public static bool IsTerminal(string state) => !InFlight.Contains(state);
}
