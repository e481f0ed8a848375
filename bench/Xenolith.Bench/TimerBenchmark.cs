using System.Globalization;
using Xenolith.Abi;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>
/// Timer wake-up lateness (the `timer` guest): 10 ms sleeps with set_timer_op + SCHEDOP_block, each
/// woken by VIRQ_TIMER; lateness is the system time the handler reads minus the deadline. The floor
/// is event delivery into a running vCPU: Domain0 raises VIRQ_DEBUG while the guest spins, and the
/// guest's handler reports when it ran (both sides read the same system time).
/// </summary>
internal static class TimerBenchmark
{
    private const int Sleeps = 200;
    private const int Injections = 50;
    private const long SleepNanoseconds = 10_000_000;

    public static async Task<IReadOnlyList<Figure>> RunAsync(TextWriter progress)
    {
        using var xen = new XenHypervisor(128UL << 20);
        // Warm-up runs of both (tiered JIT), so the figures are the steady state.
        await SleepAsync(xen, 20);
        await InjectAsync(xen, 5);
        double[] injection = await InjectAsync(xen, Injections);
        double[] late = await SleepAsync(xen, Sleeps);
        double floor = Statistics.Median(injection);
        double p50 = Statistics.Percentile(late, 50), p99 = Statistics.Percentile(late, 99);
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"timer: {Sleeps} sleeps of 10 ms woke after {10 + p50 / 1000:F3} ms (p50), {10 + p99 / 1000:F3} ms (p99); " +
            $"delivery into a running vCPU {floor:F1} us (median of {Injections})"));
        return
        [
            new Figure("timer.late_p50", p50, floor, "us"),
            new Figure("timer.late_p99", p99, floor, "us"),
        ];
    }

    /// <summary>The lateness of each 10 ms sleep, in microseconds.</summary>
    private static async Task<double[]> SleepAsync(XenHypervisor xen, int sleeps)
    {
        using Domain domain = Build(xen, $"sleeps={sleeps}");
        var console = new ConsoleRecorder(domain.Console);
        await GuestRun.RunToPoweroffAsync(domain, console);
        const string Prefix = "timer: late ";
        IReadOnlyList<string> lines = console.LinesStartingWith(Prefix);
        if (lines.Count != sleeps || console.Transcript.Contains("FAIL", StringComparison.Ordinal))
            throw new BenchmarkException($"the timer guest printed {lines.Count} of {sleeps} sleeps or a failure; its console:\n{console.Transcript}");
        return [.. lines.Select(line => long.Parse(line.AsSpan(Prefix.Length), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) / 1000.0)];
    }

    /// <summary>For each injection, system time from Domain0 raising VIRQ_DEBUG to the guest's handler running, in microseconds.</summary>
    private static async Task<double[]> InjectAsync(XenHypervisor xen, int count)
    {
        using Domain domain = Build(xen, $"spin={count}");
        var console = new ConsoleRecorder(domain.Console);
        Task run = GuestRun.RunToPoweroffAsync(domain, console);
        var latencies = new double[count];
        for (int i = 0; i < count; i++)
        {
            await WaitForLinesAsync(console, "timer: spinning ", i + 1, run);
            // Let the guest get back into its spin loop after printing.
            await Task.Delay(2);
            long raised = xen.Clock.Now;
            xen.EventChannels.RaiseVirq(domain, 0, Virq.Debug);
            const string Prefix = "timer: debug virq ";
            await WaitForLinesAsync(console, Prefix, i + 1, run);
            long handled = long.Parse(console.LinesStartingWith(Prefix)[i].AsSpan(Prefix.Length), CultureInfo.InvariantCulture);
            latencies[i] = (handled - raised) / 1000.0;
        }
        await run;
        return latencies;
    }

    private static async Task WaitForLinesAsync(ConsoleRecorder console, string prefix, int count, Task run)
    {
        while (console.LinesStartingWith(prefix).Count < count)
        {
            if (run.IsCompleted)
            {
                await run;
                throw new BenchmarkException($"the timer guest ended before printing \"{prefix}\" {count} times; its console:\n{console.Transcript}");
            }
            await Task.Delay(1);
        }
    }

    private static Domain Build(XenHypervisor xen, string cmdline) =>
        PvDomainBuilder.Build(xen, new PvBuildRequest("bench-timer", BuiltinGuests.Load("timer"), cmdline, 16)).Domain;
}
