using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xenolith.Abi;
using Xenolith.Domain0.Rings;
using Xenolith.Hypervisor;

namespace Xenolith.Domain0.Console;

/// <summary>
/// One domain's console ring (console.h), served as xenconsoled serves it: whenever the guest
/// signals, out[] is drained into <see cref="DomainConsole.Write"/> (so every listener sees ring
/// output in order, as console_io output) and queued input is put into in[]; the guest is
/// signalled once if anything moved, so a guest waiting for room in out[] or for input wakes.
/// <para>
/// Indices are the guest's: an out[] whose producer ran more than the ring ahead is resynchronised
/// to its last 2048 bytes, as xenconsoled does; an in[] whose consumer ran ahead of the producer
/// gets no input until it is sane again. Either way only this console is affected.
/// </para>
/// Thread-safe: the event thread, the toolstack's input and the final drain take one lock.
/// </summary>
public sealed class ConsoleBackend : IDisposable
{
    private static readonly SharedByteRing Output = new(
        ConsoleInterface.Output, ConsoleInterface.OutputSize, ConsoleInterface.OutputConsumer, ConsoleInterface.OutputProducer);
    private static readonly SharedByteRing Input = new(
        ConsoleInterface.Input, ConsoleInterface.InputSize, ConsoleInterface.InputConsumer, ConsoleInterface.InputProducer);

    /// <summary>Input waiting for room in in[] beyond this is dropped (DomainConsole's console_io limit).</summary>
    public const int MaxQueuedInput = ConsoleInputQueue.DefaultLimit;

    private readonly DomainConsole _sink;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly byte[] _chunk = new byte[ConsoleInterface.OutputSize];
    private readonly ConsoleInputQueue _input = new();
    private IGuestRing? _ring;
    private bool _closed;
    private bool _warned;

    private ConsoleBackend(DomainConsole sink, ILogger logger)
    {
        _sink = sink;
        _logger = logger;
    }

    /// <summary>
    /// Connects to domain <paramref name="domid"/>'s console page <paramref name="mfn"/> and port
    /// <paramref name="remotePort"/>, writing its output to <paramref name="sink"/>.
    /// </summary>
    public static ConsoleBackend Attach(IGuestRingConnector connector, ushort domid, ulong mfn, uint remotePort,
        DomainConsole sink, ILogger? logger = null)
    {
        var backend = new ConsoleBackend(sink, logger ?? NullLogger.Instance);
        IGuestRing? ring = connector.TryConnect(domid, mfn, remotePort, backend.OnSignal, out int error);
        if (ring is null)
            throw new InvalidOperationException($"cannot attach domain {domid}'s console (mfn {mfn:x}, port {remotePort}): error {error}");
        lock (backend._lock)
            backend._ring = ring;
        backend.OnSignal();
        return backend;
    }

    /// <summary>Bytes queued for the guest and not yet in in[].</summary>
    public int PendingInput
    {
        get
        {
            lock (_lock)
                return _input.Count;
        }
    }

    /// <summary>Queues input for the guest (the terminal's keystrokes) and puts what fits into in[] now.</summary>
    public void QueueInput(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            _input.Enqueue(data);
            Pump();
        }
    }

    /// <summary>The guest signalled (Domain0's event thread).</summary>
    public void OnSignal()
    {
        lock (_lock)
            Pump();
    }

    /// <summary>
    /// Takes whatever the guest left in out[], then lets go of the page and the port: call it when
    /// the domain has ended, so that output written just before SCHEDOP_shutdown is not lost.
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_closed)
                return;
            if (_ring is not null)
                DrainOutput(_ring.Page);
            _closed = true;
            _ring?.Dispose();
        }
    }

    private void Pump()
    {
        if (_closed || _ring is null)
            return;
        Span<byte> page = _ring.Page;
        bool moved = DrainOutput(page);
        moved |= FillInput(page);
        if (moved)
            _ring.Notify();
    }

    /// <summary>
    /// Rings' worth of output taken per signal at most: a guest that keeps writing (or keeps
    /// corrupting its indices) cannot hold Domain0's event thread. It is signalled that room was
    /// made, writes on, and signals again.
    /// </summary>
    private const int MaxChunksPerSignal = 32;

    private bool DrainOutput(Span<byte> page)
    {
        bool moved = false;
        for (int chunk = 0; chunk < MaxChunksPerSignal; chunk++)
        {
            int read = Output.Read(page, _chunk);
            if (read == SharedByteRing.Corrupt)
            {
                Warn("its output indices are corrupt; resynchronising to the last ring's worth");
                uint producer = Volatile.Read(ref Index(page, ConsoleInterface.OutputProducer));
                Volatile.Write(ref Index(page, ConsoleInterface.OutputConsumer), producer - ConsoleInterface.OutputSize);
                moved = true;
                continue;
            }
            if (read == 0)
                break;
            moved = true;
            _sink.Write(_chunk.AsSpan(0, read));
        }
        return moved;
    }

    private static ref uint Index(Span<byte> page, int offset) => ref MemoryMarshal.AsRef<uint>(page.Slice(offset, sizeof(uint)));

    private bool FillInput(Span<byte> page)
    {
        if (_input.Count == 0)
            return false;
        int free = Input.Free(page);
        if (free == SharedByteRing.Corrupt)
        {
            Warn("its input indices are corrupt; input waits");
            return false;
        }
        int count = Math.Min(free, _input.Count);
        if (count == 0)
            return false;
        Span<byte> bytes = stackalloc byte[count];
        _input.Dequeue(bytes);
        Input.Write(page, bytes);
        return true;
    }

    private void Warn(string what)
    {
        if (_warned)
            return;
        _warned = true;
        _logger.LogWarning("console of domain {Domain}: {What}", _ring?.DomainId, what);
    }
}
