using Xenolith.Abi;
using Xenolith.Domain0.Toolstack;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>Runs a built domain to its end and insists that it powered off: any other end voids the measurement.</summary>
internal static class GuestRun
{
    /// <summary>Generous: the slowest run here takes about a second; a hang must still end the benchmark.</summary>
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    public static Task RunToPoweroffAsync(Domain domain, ConsoleRecorder console) =>
        RunToPoweroffAsync(domain, domain.Start, domain.Exited, console);

    /// <summary>
    /// The same for a domain the toolstack launched (xenstore and console rings served): it waits
    /// until Domain0 has let go, so the console ring's last output is in the recorder.
    /// </summary>
    public static Task RunToPoweroffAsync(LaunchedDomain launched, ConsoleRecorder console) =>
        RunToPoweroffAsync(launched.Domain, launched.Start, launched.Exited, console);

    private static async Task RunToPoweroffAsync(Domain domain, Action start, Task<DomainExit> exited, ConsoleRecorder console)
    {
        start();
        DomainExit exit;
        try
        {
            exit = await exited.WaitAsync(s_timeout);
        }
        catch (TimeoutException)
        {
            throw new BenchmarkException(
                $"domain '{domain.Name}' did not finish within {s_timeout.TotalSeconds:F0} s; its console:\n{console.Transcript}");
        }
        if (exit.Reason != ShutdownReason.Poweroff)
        {
            throw new BenchmarkException(
                $"domain '{domain.Name}' ended with {exit.Reason} instead of Poweroff\n" +
                $"{exit.CrashReport}its console:\n{console.Transcript}");
        }
    }
}
