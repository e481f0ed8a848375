using Xenolith.Abi;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>Runs a built domain to its end and insists that it powered off: any other end voids the measurement.</summary>
internal static class GuestRun
{
    /// <summary>Generous: the slowest run here takes about a second; a hang must still end the benchmark.</summary>
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    public static async Task RunToPoweroffAsync(Domain domain, ConsoleRecorder console)
    {
        domain.Start();
        DomainExit exit;
        try
        {
            exit = await domain.Exited.WaitAsync(s_timeout);
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
