using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Domain0.Toolstack;
using Xenolith.Domain0.Xenstore;
using Xenolith.Hypervisor;

namespace Xenolith.Bench;

/// <summary>
/// xenstore reads per second. From a host client over xenstored's Unix socket: one XS_READ at a
/// time, each waiting for its reply, as libxenstore's xs_read does. Its floor is the same client
/// against <see cref="SocketEchoServer"/>, a server with the same socket handling but no daemon
/// behind it: what the transport alone allows, measured in the same run, so the ratio is the
/// share of that rate xenstored keeps (a throughput, so the floor is the upper bound and the
/// ratio at most about 1). The daemon's in-process rate is printed for scale.
/// <para>
/// From a guest over its ring (the `xenstore` guest, `test=bench count=N`, printing
/// "xenstore: read N ops T ticks" and "xenstore: write N ops T ticks"): measured when that guest
/// is built in, against one bare exit per operation as its floor, since every request costs the
/// guest at least its EVTCHNOP_send.
/// </para>
/// </summary>
internal static class XenstoreBenchmark
{
    private const int Reads = 3000;
    private const int Runs = 5;
    private const int GuestCount = 2000;

    private const int GuestRuns = 5;
    private const string ReadPath = "/local/domain/0/name";

    public static async Task<IReadOnlyList<Figure>> RunAsync(TextWriter progress)
    {
        string directory = Directory.CreateTempSubdirectory("xenolith-bench").FullName;
        try
        {
            using var xen = new XenHypervisor(128UL << 20);
            string socketPath = Path.Combine(directory, "xenstored.sock");
            using var toolstack = new Domain0Toolstack(xen, new ToolstackOptions(socketPath));
            byte[] request = XsWire.Encode(XsMessageType.Read, 1, 0, XsWire.Strings(ReadPath));
            byte[] reply = XsWire.Encode(XsMessageType.Read, 1, 0, "Domain-0"u8);

            double daemon = MeasureInProcess(request);
            double socket = MeasureSocket(socketPath, request, reply.Length);
            string echoPath = Path.Combine(directory, "echo.sock");
            double echo;
            using (new SocketEchoServer(echoPath, reply))
                echo = MeasureSocket(echoPath, request, reply.Length);
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"xenstore: socket {socket:F0} reads/s, echo-only socket {echo:F0}/s, daemon in-process {daemon:F0}/s"));
            var figures = new List<Figure> { new("xenstore.socket_read", socket, echo, "ops/s") };

            if (BuiltinGuests.Exists("xenstore"))
                figures.AddRange(await MeasureGuestAsync(xen, toolstack, progress));
            else
                await progress.WriteLineAsync("xenstore: no built-in 'xenstore' guest yet; the ring figures are skipped");
            return figures;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The daemon alone, no transport: a scale for the socket figure, not its floor.</summary>
    private static double MeasureInProcess(byte[] request)
    {
        var daemon = new XenstoreDaemon();
        XenstoreConnection connection = daemon.Connect(0);
        daemon.Process(connection, XsWire.Encode(XsMessageType.Write, 1, 0, [.. XsWire.Strings(ReadPath), .. "Domain-0"u8]));
        var rates = new List<double>();
        for (int run = 0; run < Runs; run++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < Reads * 10; i++)
                daemon.Process(connection, request);
            rates.Add(Reads * 10 / Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return Statistics.Median(rates);
    }

    /// <summary>Median reads per second over <see cref="Runs"/> runs of <see cref="Reads"/>, after a warm-up run.</summary>
    private static double MeasureSocket(string path, byte[] request, int replyLength)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(path));
        var reply = new byte[replyLength];
        var rates = new List<double>();
        for (int run = -1; run < Runs; run++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < Reads; i++)
            {
                socket.Send(request);
                for (int got = 0; got < reply.Length;)
                {
                    int received = socket.Receive(reply.AsSpan(got));
                    if (received == 0)
                        throw new BenchmarkException($"{path}: the server closed the connection");
                    got += received;
                }
            }
            double rate = Reads / Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (run >= 0)
                rates.Add(rate);
        }
        return Statistics.Median(rates);
    }

    /// <summary>The guest's reads and writes over its ring, each against one bare exit per operation.</summary>
    private static async Task<IReadOnlyList<Figure>> MeasureGuestAsync(XenHypervisor xen, Domain0Toolstack toolstack, TextWriter progress)
    {
        double exitMicroseconds = await GuestLoopBenchmark.MeasureBareExitAsync(xen, runs: 3);
        double floor = 1e6 / exitMicroseconds;
        // Several guests, one after the other: the first also pays for the service's JIT tiering.
        string[] operations = ["read", "write"];
        var rates = operations.ToDictionary(op => op, _ => new List<double>());
        for (int run = 0; run < GuestRuns; run++)
        {
            using LaunchedDomain launched = toolstack.Launch(
                new PvBuildRequest("xenstore-bench", BuiltinGuests.Load("xenstore"), $"test=bench count={GuestCount}", 16));
            var console = new ConsoleRecorder(launched.Domain.Console);
            await GuestRun.RunToPoweroffAsync(launched, console);
            uint tscKhz = launched.Domain.Vcpus[0].TscKhz;
            foreach (string operation in operations)
                rates[operation].Add(Statistics.OperationsPerSecondOfLine(console, $"xenstore: {operation} ", tscKhz));
        }
        var figures = new List<Figure>();
        foreach (string operation in operations)
        {
            double rate = Statistics.Median(rates[operation]);
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"xenstore: guest {operation} median {rate:F0} ops/s over the ring of {GuestRuns} runs; one exit per op would allow {floor:F0}/s"));
            figures.Add(new Figure($"xenstore.ring_{operation}", rate, floor, "ops/s"));
        }
        return figures;
    }
}
