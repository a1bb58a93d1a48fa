namespace RouteIQ.Contracts;

/// <summary>
/// Where gateway-admin sends <see cref="TrainRequested"/>: jobs needing no GPU go to
/// <see cref="Cpu"/>, which every trainer-runner consumes; GPU jobs go to <see cref="Gpu"/>,
/// which only runners with <c>RouteIQ:Runner:Gpus &gt; 0</c> consume.
/// </summary>
public static class RunnerQueues
{
    public const string Cpu = "trainer-runner.cpu";
    public const string Gpu = "trainer-runner.gpu";

    /// <summary>The send address of the queue for a job asking for <paramref name="gpus"/> GPUs (0 none, -1 all, n a count).</summary>
    public static Uri For(int gpus) => new($"queue:{(gpus == 0 ? Cpu : Gpu)}");
}
