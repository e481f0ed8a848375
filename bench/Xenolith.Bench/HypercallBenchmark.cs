using System.Globalization;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>
/// `hypercall`: the per-call cost of xen_version through the hypercall page and through
/// `syscall`, against the floor of a bare no-op `out` exit from the same kind of vCPU.
/// The modes run interleaved so that drift in the host affects all of them alike.
/// </summary>
internal static class HypercallBenchmark
{
    private const int Iterations = 20_000;
    private const int Rounds = 7;
    private const ulong MachineMemoryMiB = 256;
    private const ulong DomainMemoryMiB = 16;
    private const string FloorMode = "floor";
    private static readonly string[] s_modes = [FloorMode, "page", "syscall"];

    public static async Task<IReadOnlyList<Figure>> RunAsync(TextWriter progress)
    {
        byte[] kernel = BuiltinGuests.Load("bench");
        using var xen = new XenHypervisor(MachineMemoryMiB << 20);
        Dictionary<string, List<double>> samples = s_modes.ToDictionary(m => m, _ => new List<double>());
        for (int round = 1; round <= Rounds; round++)
        {
            foreach (string mode in s_modes)
            {
                double microseconds = await MeasureAsync(xen, kernel, mode);
                samples[mode].Add(microseconds);
                await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"hypercall: round {round}/{Rounds} {mode,-7} {microseconds:F2} us"));
            }
        }

        double floor = Statistics.Median(samples[FloorMode]);
        return
        [
            .. s_modes.Where(m => m != FloorMode)
                .Select(m => new Figure($"hypercall.{m}", Statistics.Median(samples[m]), floor, "us")),
        ];
    }

    /// <summary>One fresh domain running one mode's loop; returns microseconds per operation.</summary>
    private static async Task<double> MeasureAsync(XenHypervisor xen, byte[] kernel, string mode)
    {
        var request = new PvBuildRequest($"bench-{mode}", kernel, $"mode={mode} iters={Iterations}", DomainMemoryMiB);
        (Domain domain, _) = PvDomainBuilder.Build(xen, request);
        using (domain)
        {
            var console = new ConsoleRecorder(domain.Console);
            await GuestRun.RunToPoweroffAsync(domain, console);
            // The guest warms up before "begin", so the window holds exactly the measured loop.
            long begin = console.TimestampOfLine($"bench: begin {mode} {Iterations}");
            long end = console.TimestampOfLine($"bench: end {mode}");
            return Statistics.ElapsedMicroseconds(begin, end) / Iterations;
        }
    }
}
