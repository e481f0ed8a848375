using System.Diagnostics;
using System.Globalization;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>
/// `boot`: how long until the hello guest says something. Once for the real `xenolith run`
/// command from process start (floor: the same CLI printing --help, i.e. runtime and CLI
/// startup with no hypervisor work), and once in-process from PvDomainBuilder.Build (floor:
/// creating and destroying an empty domain, i.e. the KVM VM's own cost).
/// </summary>
internal static class BootBenchmark
{
    private const int ProcessRounds = 5;
    private const int InProcessRounds = 7;
    private const ulong MachineMemoryMiB = 256;
    private const ulong DomainMemoryMiB = 16;

    public static async Task<IReadOnlyList<Figure>> RunAsync(TextWriter progress)
    {
        return
        [
            await MeasureProcessAsync(progress),
            await MeasureInProcessAsync(progress),
        ];
    }

    private static async Task<Figure> MeasureProcessAsync(TextWriter progress)
    {
        // The bench references the CLI project, so the build puts xenolith.dll beside us.
        string cli = Path.Combine(AppContext.BaseDirectory, "xenolith.dll");
        if (!File.Exists(cli))
            throw new BenchmarkException($"{cli} is missing: build the bench project, which references src/Xenolith.Cli");

        var floors = new List<double>();
        var boots = new List<double>();
        for (int round = 1; round <= ProcessRounds; round++)
        {
            double floor = await ChildProcessTimer.MillisecondsToFirstStdoutByteAsync("dotnet", [cli, "--help"]);
            double boot = await ChildProcessTimer.MillisecondsToFirstStdoutByteAsync("dotnet", [cli, "run", BuiltinGuests.Default]);
            floors.Add(floor);
            boots.Add(boot);
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"boot: round {round}/{ProcessRounds} --help {floor:F2} ms, run {BuiltinGuests.Default} {boot:F2} ms"));
        }
        return new Figure("boot.first_console_byte", Statistics.Median(boots), Statistics.Median(floors), "ms");
    }

    private static async Task<Figure> MeasureInProcessAsync(TextWriter progress)
    {
        byte[] kernel = BuiltinGuests.Load(BuiltinGuests.Default);
        using var xen = new XenHypervisor(MachineMemoryMiB << 20);
        var floors = new List<double>();
        var boots = new List<double>();
        for (int round = 1; round <= InProcessRounds; round++)
        {
            double floor = EmptyDomainMilliseconds(xen);
            double boot = await BuildToFirstByteMillisecondsAsync(xen, kernel);
            floors.Add(floor);
            boots.Add(boot);
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"boot: round {round}/{InProcessRounds} empty domain {floor:F2} ms, build to first byte {boot:F2} ms"));
        }
        return new Figure("boot.build_to_first_byte", Statistics.Median(boots), Statistics.Median(floors), "ms");
    }

    private static double EmptyDomainMilliseconds(XenHypervisor xen)
    {
        long start = Stopwatch.GetTimestamp();
        xen.CreateDomain("empty", Guid.NewGuid()).Dispose();
        return Statistics.ElapsedMicroseconds(start, Stopwatch.GetTimestamp()) / 1000;
    }

    private static async Task<double> BuildToFirstByteMillisecondsAsync(XenHypervisor xen, byte[] kernel)
    {
        long start = Stopwatch.GetTimestamp();
        (Domain domain, _) = PvDomainBuilder.Build(xen, new PvBuildRequest(BuiltinGuests.Default, kernel, "", DomainMemoryMiB));
        using (domain)
        {
            // The guest cannot write before Start, so attaching after Build misses nothing.
            var console = new ConsoleRecorder(domain.Console);
            await GuestRun.RunToPoweroffAsync(domain, console);
            long firstByte = console.FirstByteTimestamp;
            if (firstByte == 0)
                throw new BenchmarkException($"the {BuiltinGuests.Default} guest powered off without writing to its console");
            return Statistics.ElapsedMicroseconds(start, firstByte) / 1000;
        }
    }
}
