using System.Globalization;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>
/// Runs loops of the `bench` guest (one fresh domain per run) and reports microseconds per
/// iteration for each measured mode against the floor mode: a bare no-op `out` exit from the same
/// kind of vCPU, measured in the same run. Modes are interleaved round by round so that drift in
/// the host affects all of them alike; each figure is the median over the rounds.
/// </summary>
internal static class GuestLoopBenchmark
{
    private const int Iterations = 20_000;
    private const int Rounds = 7;
    private const ulong MachineMemoryMiB = 256;
    private const ulong DomainMemoryMiB = 16;
    private const string FloorMode = "floor";

    /// <summary>One measured guest mode and the figure name it reports under.</summary>
    public sealed record Measured(string Mode, string Figure);

    public static async Task<IReadOnlyList<Figure>> RunAsync(string name, IReadOnlyList<Measured> measured, TextWriter progress)
    {
        byte[] kernel = BuiltinGuests.Load("bench");
        using var xen = new XenHypervisor(MachineMemoryMiB << 20);
        string[] modes = [FloorMode, .. measured.Select(m => m.Mode)];
        Dictionary<string, List<double>> samples = modes.ToDictionary(m => m, _ => new List<double>());
        for (int round = 1; round <= Rounds; round++)
        {
            foreach (string mode in modes)
            {
                double microseconds = await MeasureAsync(xen, kernel, mode);
                samples[mode].Add(microseconds);
                await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{name}: round {round}/{Rounds} {mode,-11} {microseconds:F2} us"));
            }
        }

        double floor = Statistics.Median(samples[FloorMode]);
        return [.. measured.Select(m => new Figure(m.Figure, Statistics.Median(samples[m.Mode]), floor, "us"))];
    }

    /// <summary>The floor other benchmarks compare with: a bare exit to the host process and back, in microseconds (median of <paramref name="runs"/>).</summary>
    public static async Task<double> MeasureBareExitAsync(XenHypervisor xen, int runs)
    {
        byte[] kernel = BuiltinGuests.Load("bench");
        var samples = new List<double>(runs);
        for (int i = 0; i < runs; i++)
            samples.Add(await MeasureAsync(xen, kernel, FloorMode));
        return Statistics.Median(samples);
    }

    /// <summary>One fresh domain running one mode's loop; returns microseconds per iteration.</summary>
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
