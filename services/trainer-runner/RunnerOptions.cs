using System.ComponentModel.DataAnnotations;

namespace RouteIQ.TrainerRunner;

/// <summary>Section <c>RouteIQ:Runner</c>: this node's capacity and timings.</summary>
public sealed class RunnerOptions
{
    public const string Section = "RouteIQ:Runner";

    /// <summary>Seconds between <c>TrainHeartbeat</c>s of a running job.</summary>
    [Range(1, 3600)]
    public int HeartbeatSeconds { get; set; } = 10;

    /// <summary>How often a running job's new output is published (<c>TrainLogAppended</c>) for live logs; 0 = only heartbeat tails.</summary>
    [Range(0, 60_000)]
    public int LogStreamMilliseconds { get; set; } = 250;

    /// <summary>Jobs this node runs at once.</summary>
    [Range(1, 1024)]
    public int Slots { get; set; } = 1;

    /// <summary>GPUs on this node; 0 = it takes only CPU jobs.</summary>
    [Range(0, 1024)]
    public int Gpus { get; set; }

    /// <summary>On shutdown, how long running jobs may still finish before they are stopped and handed back.</summary>
    [Range(0, 3600)]
    public int ShutdownGraceSeconds { get; set; } = 20;

    /// <summary>How long a full node holds a job message waiting for a slot before handing it back to the queue.</summary>
    [Range(0.05, 60)]
    public double SlotWaitSeconds { get; set; } = 1;

    /// <summary>Where per-job output directories live; empty = <c>{DataDir}/runner/{node}</c>.</summary>
    public string? WorkDirectory { get; set; }

    /// <summary>How many recent (job, attempt) pairs are remembered to ignore redelivered requests.</summary>
    [Range(16, 1_000_000)]
    public int RecentJobsRemembered { get; set; } = 4096;
}
