using System.Net;

namespace RouteIQ.Cli;

/// <summary>Exit codes scripts can rely on (also in the README).</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The job ran and failed (trainer exit ≠ 0, timeout, rollout failed, candidate not healthy).</summary>
    public const int JobFailed = 1;

    /// <summary>Bad usage or configuration (also the hosts' configuration errors).</summary>
    public const int Usage = 2;

    /// <summary>The server could not be reached.</summary>
    public const int Unreachable = 3;

    /// <summary>Missing or wrong API key (401/403).</summary>
    public const int Unauthorized = 4;

    /// <summary>The request was refused: not found (404), conflict (409), invalid (400/413/422).</summary>
    public const int Rejected = 5;

    /// <summary>The job was cancelled.</summary>
    public const int Cancelled = 6;

    /// <summary>Waiting ended before the job did (--async jobs still running).</summary>
    public const int StillRunning = 7;

    public static int FromStatus(HttpStatusCode status) => FromStatus((int)status);

    public static int FromStatus(int status) => status switch
    {
        >= 200 and < 300 => Ok,
        401 or 403 => Unauthorized,
        400 or 404 or 409 or 413 or 422 => Rejected,
        _ => JobFailed,
    };

    /// <summary>
    /// The exit code of a job that ended: a job refused by the system (unknown alias → 404, a
    /// rollout already in progress → 409) exits as a synchronous call's refusal would.
    /// </summary>
    public static int FromJob(string? state, int? statusCode) => state switch
    {
        "succeeded" => Ok,
        "cancelled" => Cancelled,
        "queued" or "running" => StillRunning,
        _ when statusCode is { } code && FromStatus(code) is Rejected or Unauthorized => FromStatus(code),
        _ => JobFailed,
    };
}
