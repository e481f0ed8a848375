using System.Globalization;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>
/// An interdomain event-channel ping-pong (the `evtchn` guest in two domains): the client sends,
/// the server's upcall sends back, the client's upcall sees it. A round trip is two sends (each a
/// hypercall exit) and two upcalls into vCPUs blocked in SCHEDOP_block. The floor is a bare exit,
/// measured in the same run.
/// </summary>
internal static class EvtchnBenchmark
{
    private const int Rounds = 200;

    /// <summary>The first port after xenstore's and the console's, which the builder allocates.</summary>
    private const uint ServerPort = 3;

    public static async Task<IReadOnlyList<Figure>> RunAsync(TextWriter progress)
    {
        using var xen = new XenHypervisor(256UL << 20);
        // A first pair warms the JIT up (tiered compilation), so the figures are the steady state.
        await PingPongAsync(xen, 20);
        double floor = await GuestLoopBenchmark.MeasureBareExitAsync(xen, runs: 3);
        IReadOnlyList<double> roundTrips = await PingPongAsync(xen, Rounds);
        double median = Statistics.Median([.. roundTrips]);
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"evtchn: {Rounds} round trips, median {median:F1} us, bare exit {floor:F1} us"));
        return [new Figure("evtchn.round_trip", median, floor, "us")];
    }

    /// <summary>Runs the server and client guests; returns the client's round trips in microseconds.</summary>
    private static async Task<IReadOnlyList<double>> PingPongAsync(XenHypervisor xen, int rounds)
    {
        Domain Build(string name, string cmdline) =>
            PvDomainBuilder.Build(xen, new PvBuildRequest(name, BuiltinGuests.Load("evtchn"), cmdline, 16)).Domain;

        using Domain server = Build("evtchn-server", $"role=server port={ServerPort} rounds={rounds}");
        using Domain client = Build("evtchn-client", $"role=client peer={server.Id} rport={ServerPort} rounds={rounds}");
        // Domain0's part: the server's port, unbound for the client.
        if (xen.EventChannels.AllocUnbound(server, DomainIds.Self, client.Id, out uint port) != 0 || port != ServerPort)
            throw new BenchmarkException($"the server's port came out as {port}, not {ServerPort}");
        var serverConsole = new ConsoleRecorder(server.Console);
        var clientConsole = new ConsoleRecorder(client.Console);
        Task serving = GuestRun.RunToPoweroffAsync(server, serverConsole);
        await GuestRun.RunToPoweroffAsync(client, clientConsole);
        await serving;

        uint tscKhz = client.Vcpus[0].TscKhz;
        const string Prefix = "evtchn: rtt ";
        IReadOnlyList<string> lines = clientConsole.LinesStartingWith(Prefix);
        if (lines.Count != rounds)
            throw new BenchmarkException($"the client printed {lines.Count} round trips, not {rounds}; its console:\n{clientConsole.Transcript}");
        return [.. lines.Select(line => Statistics.MicrosecondsOfTickLine(line, Prefix, tscKhz))];
    }
}
