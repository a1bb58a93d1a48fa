using System.ComponentModel.DataAnnotations;

namespace RouteIQ.GatewayAdmin.Ledger;

/// <summary>Section <c>RouteIQ:Jobs</c>: shared with the runners (heartbeat period).</summary>
public sealed class JobOptions
{
    public const string Section = "RouteIQ:Jobs";

    /// <summary>Runner heartbeat period (default: <c>RouteIQ:Runner:HeartbeatSeconds</c>, else 10); a running job silent for 3× this is lost.</summary>
    [Range(1, 3600)]
    public int HeartbeatSeconds { get; set; } = 10;

    /// <summary>Dispatches of a job (lost runners count, hand-backs do not) before it fails with "runner lost".</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 2;
}

/// <summary>Section <c>RouteIQ:Admin</c> (besides <c>ApiKeys</c>, which ServiceDefaults reads).</summary>
public sealed class AdminOptions
{
    public const string Section = "RouteIQ:Admin";

    /// <summary>How long a synchronous train waits, after success, for the registry to report the version.</summary>
    [Range(0, 600)]
    public int VersionGraceSeconds { get; set; } = 15;

    /// <summary>Extra time a synchronous request waits beyond the job's own timeout (queueing, start-up) before answering 202.</summary>
    [Range(0, 86400)]
    public int SyncGraceSeconds { get; set; } = 120;

    /// <summary>How long a roll waits for the candidate to become healthy when the request does not say (<c>wait_ready_seconds</c>).</summary>
    [Range(1, 900)]
    public int DefaultWaitReadySeconds { get; set; } = 90;

    /// <summary>Extra time a synchronous train_then_roll waits for the rollout after training.</summary>
    [Range(0, 3600)]
    public int RollGraceSeconds { get; set; } = 150;

    /// <summary>How many items a list returns without <c>limit</c>, and the most it may ask for.</summary>
    [Range(1, 100000)]
    public int DefaultListLimit { get; set; } = 100;

    [Range(1, 100000)]
    public int MaxListLimit { get; set; } = 1000;

    /// <summary>How long an API answer waits for the rollout service (deployments, status, rollouts, versions) before 503.</summary>
    [Range(1, 300)]
    public int RolloutAnswerSeconds { get; set; } = 10;

    /// <summary>How long <c>GET /status</c> waits for the serving endpoint's <c>/ping</c>.</summary>
    [Range(1, 60)]
    public int ProbeSeconds { get; set; } = 3;

    /// <summary>Seconds between a polling gateway's checks of <c>manifest.json</c> (<c>reload_interval</c> of the routing config).</summary>
    [Range(1, 86400)]
    public int GatewayReloadIntervalSeconds { get; set; } = 30;

    /// <summary>Test hook: exit abruptly right after a job and its outbox row are committed, before anything is sent.</summary>
    public bool CrashAfterJobWrite { get; set; }
}
