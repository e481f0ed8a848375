using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>
/// Mapping 1024 pages three ways (the `mmu` guest's bench mode): one batched mmu_update, 1024
/// single-entry mmu_updates, and 1024 trapped writes into a read-only L1. The floor is one null
/// hypercall (xen_version), timed in the same guest in the same run; the target is the batched
/// path within 3x of it and at least 100x faster than the trapped writes. The guest times each
/// way with rdtsc, so the console line reporting it is not part of what it measures.
/// </summary>
internal static class MmuBenchmark
{
    private const int Rounds = 7;
    private const int Pages = 1024;

    public static async Task<IReadOnlyList<Figure>> RunAsync(TextWriter progress)
    {
        using var xen = new XenHypervisor(256UL << 20);
        // A first domain warms the JIT up (tiered compilation), so the figures are the steady state.
        await RunGuestAsync(xen);
        (ConsoleRecorder console, uint tscKhz) = await RunGuestAsync(xen);
        double floor = Median(console, "null", tscKhz) / Pages;
        var figures = new List<Figure>();
        foreach ((string way, string figure) in new[] { ("batched", "mmu.batched"), ("single", "mmu.single"), ("trapped", "mmu.trapped") })
        {
            double microseconds = Median(console, way, tscKhz);
            await progress.WriteLineAsync($"mmu: {way} {microseconds:F1} us for {Pages} pages");
            figures.Add(new Figure(figure, microseconds, floor, "us"));
        }
        return figures;
    }

    private static async Task<(ConsoleRecorder Console, uint TscKhz)> RunGuestAsync(XenHypervisor xen)
    {
        var request = new PvBuildRequest("bench-mmu", BuiltinGuests.Load("mmu"), $"bench={Rounds}", 16);
        (Domain domain, _) = PvDomainBuilder.Build(xen, request);
        using (domain)
        {
            var console = new ConsoleRecorder(domain.Console);
            await GuestRun.RunToPoweroffAsync(domain, console);
            return (console, domain.Vcpus[0].TscKhz);
        }
    }

    /// <summary>The median over the rounds of the guest's "mmu: ticks WAY 1024 TICKS" lines, in microseconds.</summary>
    private static double Median(ConsoleRecorder console, string way, uint tscKhz)
    {
        string prefix = $"mmu: ticks {way} {Pages} ";
        IReadOnlyList<string> lines = console.LinesStartingWith(prefix);
        if (lines.Count != Rounds)
            throw new BenchmarkException($"the mmu guest printed {lines.Count} tick lines for '{way}', not {Rounds}; its console:\n{console.Transcript}");
        return Statistics.Median([.. lines.Select(line => Statistics.MicrosecondsOfTickLine(line, prefix, tscKhz))]);
    }
}
