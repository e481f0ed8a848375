using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>
/// Mapping 1024 pages three ways (the `mmu` guest's bench mode): one batched mmu_update, 1024
/// single-entry mmu_updates, and 1024 trapped writes into a read-only L1. The floor is one null
/// hypercall (xen_version), timed in the same guest in the same run; the target is the batched
/// path within 3x of it and at least 100x faster than the trapped writes.
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
        ConsoleRecorder console = await RunGuestAsync(xen);
        double floor = Median(console, "null") / Pages;
        var figures = new List<Figure>();
        foreach ((string way, string figure) in new[] { ("batched", "mmu.batched"), ("single", "mmu.single"), ("trapped", "mmu.trapped") })
        {
            double microseconds = Median(console, way);
            await progress.WriteLineAsync($"mmu: {way} {microseconds:F1} us for {Pages} pages");
            figures.Add(new Figure(figure, microseconds, floor, "us"));
        }
        return figures;
    }

    private static async Task<ConsoleRecorder> RunGuestAsync(XenHypervisor xen)
    {
        var request = new PvBuildRequest("bench-mmu", BuiltinGuests.Load("mmu"), $"bench={Rounds}", 16);
        (Domain domain, _) = PvDomainBuilder.Build(xen, request);
        using (domain)
        {
            var console = new ConsoleRecorder(domain.Console);
            await GuestRun.RunToPoweroffAsync(domain, console);
            return console;
        }
    }

    private static double Median(ConsoleRecorder console, string way)
    {
        IReadOnlyList<long> begins = console.TimestampsOfLine($"mmu: begin {way} {Pages}");
        IReadOnlyList<long> ends = console.TimestampsOfLine($"mmu: end {way}");
        if (begins.Count != Rounds || ends.Count != Rounds)
            throw new BenchmarkException($"the mmu guest printed {begins.Count} begin and {ends.Count} end lines for '{way}', not {Rounds}; its console:\n{console.Transcript}");
        return Statistics.Median([.. begins.Zip(ends, Statistics.ElapsedMicroseconds)]);
    }
}
