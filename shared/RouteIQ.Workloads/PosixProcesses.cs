using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace RouteIQ.Workloads;

/// <summary>
/// Signals and identity checks for local processes. Workloads run in their own session and
/// process group (started through <c>setsid</c>), so one signal to the group reaches every
/// child, even after the leader died or the runner that started them was killed.
/// </summary>
internal static partial class PosixProcesses
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    private static readonly string? SetsidPath = OperatingSystem.IsLinux()
        ? new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists)
        : null;

    /// <summary>The <c>setsid</c> binary when process groups are available, else null.</summary>
    public static string? Setsid => SetsidPath;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SysKill(int pid, int signal);

    /// <summary>Sends <paramref name="signal"/> to the process group led by <paramref name="pgid"/>; false when none exists.</summary>
    public static bool SignalGroup(int pgid, int signal) =>
        !OperatingSystem.IsWindows() && pgid > 1 && SysKill(-pgid, signal) == 0;

    public static bool Signal(int pid, int signal) =>
        !OperatingSystem.IsWindows() && pid > 1 && SysKill(pid, signal) == 0;

    /// <summary>
    /// A stable identity of a running process: its start time (Linux: clock ticks after boot from
    /// <c>/proc/{pid}/stat</c>), so a reused pid is never mistaken for the process we started.
    /// Null when no such process runs.
    /// </summary>
    public static long? StartTime(int pid)
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                // fields[0] is field 3 (state); starttime is field 22. A zombie has exited already.
                return fields[0] == "Z" ? null : long.Parse(fields[19], CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
            {
                return null;
            }
        }
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited ? null : process.StartTime.ToUniversalTime().Ticks;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }
}
