using Microsoft.Extensions.Options;
using RouteIQ.Contracts;
using RouteIQ.ServiceDefaults;
using RouteIQ.Workloads;

namespace RouteIQ.TrainerRunner;

/// <summary>One job this node took: from slot reservation to its final event.</summary>
public sealed class RunningJob(TrainRequested request, string workloadName, string outputDirectory, int gpus, DateTimeOffset acceptedAt)
{
    public TrainRequested Request { get; } = request;
    public Guid JobId => Request.JobId;
    public int Attempt => Request.Attempt;
    public string WorkloadName { get; } = workloadName;
    public string OutputDirectory { get; } = outputDirectory;
    public int Gpus { get; } = gpus;
    public DateTimeOffset AcceptedAt { get; } = acceptedAt;
    public IWorkload? Workload { get; set; }
    public string? MlflowRunId { get; set; }

    /// <summary>The dataset as the workload sees it, when the runner provides it (see <c>TrainJobs.PrepareDatasetAsync</c>).</summary>
    public DatasetInput? Dataset { get; set; }

    /// <summary>Where the runner staged the dataset; deleted with the job.</summary>
    public string InputDirectory => OutputDirectory + "-input";
    public Task Execution { get; set; } = Task.CompletedTask;

    private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Completes when the job gives its slot back, whatever the path. It exists from the
    /// reservation on, so a shutdown that begins at any moment after it waits for this job.
    /// </summary>
    public Task Finished => _finished.Task;

    internal void MarkFinished() => _finished.TrySetResult();

    private int _ending;
    private const int Cancelled = 1, HandedBack = 2;

    public bool CancelRequested => Volatile.Read(ref _ending) == Cancelled;
    public bool HandBackRequested => Volatile.Read(ref _ending) == HandedBack;

    /// <summary>Marks the job cancelled unless it is already being handed back; true when this call decided it.</summary>
    public bool RequestCancel() => Interlocked.CompareExchange(ref _ending, Cancelled, 0) == 0;

    public bool RequestHandBack() => Interlocked.CompareExchange(ref _ending, HandedBack, 0) == 0;
}

public enum Reservation
{
    Reserved,
    Duplicate,
    Full,
    Draining,
}

/// <summary>
/// This node's capacity and memory: free slots and GPUs, the jobs it runs, the (job, attempt)
/// pairs it recently took (so a redelivered or duplicated <c>TrainRequested</c> is ignored) and
/// the cancels it heard about for jobs it does not (yet) run.
/// </summary>
public sealed class RunnerState
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, RunningJob> _running = [];
    private readonly HashSet<(Guid, int)> _recent = [];
    private readonly Queue<(Guid, int)> _recentOrder = new();
    private readonly Dictionary<Guid, int?> _cancelled = [];
    private readonly Queue<Guid> _cancelledOrder = new();
    private readonly int _remember;
    private TaskCompletionSource _released = NewSignal();
    private int _gpusInUse;

    public RunnerState(IOptions<RunnerOptions> options, IOptions<RouteIQOptions> routeiq)
    {
        var runner = options.Value;
        Slots = runner.Slots;
        Gpus = runner.Gpus;
        _remember = runner.RecentJobsRemembered;
        Node = routeiq.Value.ResolvedNodeName;
    }

    public string Node { get; }
    public int Slots { get; }
    public int Gpus { get; }

    /// <summary>Set on shutdown: no new job is taken.</summary>
    public bool Draining { get; private set; }

    /// <summary>The most jobs this node ever ran at once (capacity tests and the status page read it).</summary>
    public int MaxConcurrent { get; private set; }

    /// <summary>Jobs taken since start.</summary>
    public int Taken { get; private set; }

    /// <summary>What the start-up orphan cleanup removed.</summary>
    public IReadOnlyList<string> RemovedOrphans { get; set; } = [];

    public void StartDraining()
    {
        lock (_gate)
        {
            Draining = true;
        }
    }

    /// <summary>True when this node can ever run a job asking for <paramref name="gpus"/> (0 none, -1 all, n a count).</summary>
    public bool CanEverRun(int gpus) => gpus == 0 || (Gpus > 0 && (gpus < 0 || gpus <= Gpus));

    private int GpusFor(int requested) => requested < 0 ? Gpus : requested;

    public bool WasTaken(Guid jobId, int attempt)
    {
        lock (_gate)
        {
            return _recent.Contains((jobId, attempt));
        }
    }

    /// <summary>
    /// Takes a slot (and the GPUs) for <paramref name="job"/>, waiting up to <paramref name="wait"/>
    /// for one to free.
    /// </summary>
    public async Task<Reservation> TryReserveAsync(RunningJob job, TimeSpan wait, TimeProvider time, CancellationToken cancellationToken)
    {
        var deadline = time.GetTimestamp() + (long)(wait.TotalSeconds * time.TimestampFrequency);
        while (true)
        {
            Task released;
            lock (_gate)
            {
                if (_recent.Contains((job.JobId, job.Attempt)))
                {
                    return Reservation.Duplicate;
                }
                if (Draining)
                {
                    return Reservation.Draining;
                }
                var gpus = GpusFor(job.Gpus);
                if (_running.Count < Slots && _gpusInUse + gpus <= Gpus)
                {
                    _running[job.JobId] = job;
                    _gpusInUse += gpus;
                    Remember(job.JobId, job.Attempt);
                    Taken++;
                    MaxConcurrent = Math.Max(MaxConcurrent, _running.Count);
                    return Reservation.Reserved;
                }
                released = _released.Task;
            }
            var left = TimeSpan.FromSeconds((deadline - time.GetTimestamp()) / (double)time.TimestampFrequency);
            if (left <= TimeSpan.Zero)
            {
                return Reservation.Full;
            }
            try
            {
                await released.WaitAsync(left, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return Reservation.Full;
            }
        }
    }

    public void Release(RunningJob job)
    {
        TaskCompletionSource signal;
        lock (_gate)
        {
            if (!_running.Remove(job.JobId))
            {
                job.MarkFinished();
                return;
            }
            _gpusInUse -= GpusFor(job.Gpus);
            signal = _released;
            _released = NewSignal();
        }
        signal.TrySetResult();
        job.MarkFinished();
    }

    /// <summary>A job whose start failed for a transient reason: free it and forget it, so a redelivery may run it.</summary>
    public void Abandon(RunningJob job)
    {
        lock (_gate)
        {
            _recent.Remove((job.JobId, job.Attempt));
        }
        Release(job);
    }

    public RunningJob? Find(Guid jobId)
    {
        lock (_gate)
        {
            return _running.GetValueOrDefault(jobId);
        }
    }

    public IReadOnlyList<RunningJob> Running()
    {
        lock (_gate)
        {
            return [.. _running.Values];
        }
    }

    /// <summary>Remembers a cancel for a job not running here (it may still be queued).</summary>
    public void RememberCancel(Guid jobId, int? attempt)
    {
        lock (_gate)
        {
            if (_cancelled.TryAdd(jobId, attempt))
            {
                _cancelledOrder.Enqueue(jobId);
                while (_cancelledOrder.Count > _remember)
                {
                    _cancelled.Remove(_cancelledOrder.Dequeue());
                }
            }
        }
    }

    public bool IsCancelled(Guid jobId, int attempt)
    {
        lock (_gate)
        {
            return _cancelled.TryGetValue(jobId, out var cancelled) && (cancelled is null || cancelled == attempt);
        }
    }

    private void Remember(Guid jobId, int attempt)
    {
        if (_recent.Add((jobId, attempt)))
        {
            _recentOrder.Enqueue((jobId, attempt));
            while (_recentOrder.Count > _remember)
            {
                _recent.Remove(_recentOrder.Dequeue());
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>A dataset handed to a workload: <paramref name="HostPath"/> on this node, <paramref name="WorkloadUri"/> as the workload reads it.</summary>
public sealed record DatasetInput(string HostPath, string WorkloadUri, bool Mounted);
