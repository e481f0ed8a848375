using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xenolith.Abi;

namespace Xenolith.Hypervisor.Events;

/// <summary>
/// Domain0's end of event channels: what Linux's evtchn driver and libxenevtchn give xenstored and
/// the backends on Xen. Domain0 is this host process, so it has no vCPU and no guest memory: its
/// "shared_info" is a page of host memory that <see cref="EventChannels"/> sets bits in exactly as
/// in a guest's, and its single "vCPU kick" wakes a dispatcher thread that takes the pending ports
/// the way a guest's upcall handler does and runs each one's handler.
/// <para>
/// Handlers run one at a time on that thread, never under the event-channel lock (a kick arrives
/// with it held). A handler may still run once after <see cref="Unbind"/> returns on another
/// thread: backends guard their own state.
/// </para>
/// </summary>
public sealed class Domain0EventEndpoint : IEventChannelDomain, IDisposable
{
    private readonly EventChannels _channels;
    private readonly ILogger _logger;
    private readonly byte[] _sharedInfo = GC.AllocateArray<byte>(4096, pinned: true);
    private readonly Dictionary<uint, Action> _handlers = [];
    /// <summary>One bit per port that has a handler: the dispatcher acknowledges only those ports.</summary>
    private readonly ulong[] _handled = new ulong[TwoLevelEventChannels.BitsPerWord];
    private readonly Lock _handlersLock = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Lock _threadLock = new();
    private Thread? _dispatcher;
    private volatile bool _stopping;

    public Domain0EventEndpoint(EventChannels channels, ILogger? logger = null)
    {
        _channels = channels;
        _logger = logger ?? NullLogger.Instance;
    }

    public ushort Id => DomainIds.Domain0;

    /// <summary>Domain0 controls every domain's ports (XSM's default policy).</summary>
    public bool IsPrivileged => true;

    /// <summary>Only once disposed: then nothing more is delivered here.</summary>
    public bool IsDying => _stopping;

    /// <summary>One pseudo-vCPU: the dispatcher thread.</summary>
    public int VcpuCount => 1;

    public Span<byte> SharedInfo => _sharedInfo;

    public Span<byte> VcpuInfo(int vcpu) => _sharedInfo.AsSpan(0, SharedInfoLayout.VcpuInfoSize);

    /// <summary>As many ports as the 2-level ABI has: Domain0 holds two or more per domain.</summary>
    public EventChannelTable EventChannels { get; } = new(TwoLevelEventChannels.MaxPorts - 1);

    /// <summary>Called under the event-channel lock: only wakes the dispatcher.</summary>
    void IEventChannelDomain.KickVcpu(int vcpu) => _wake.Set();

    /// <summary>Nothing here polls a port.</summary>
    void IEventChannelDomain.WakePollers(int port) { }

    /// <summary>
    /// Connects a new local port to <paramref name="remotePort"/> of <paramref name="remoteDomain"/>
    /// (which must be unbound and waiting for Domain0, as the builder leaves the xenstore and
    /// console ports) and runs <paramref name="handler"/> on the dispatcher thread whenever the
    /// remote end signals it. As on Xen the new port starts pending, so the handler runs once at
    /// once. Returns 0 or a negative Xen errno.
    /// </summary>
    public int BindInterdomain(ushort remoteDomain, uint remotePort, Action handler, out uint localPort)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(_stopping, this);
        EnsureDispatcher();
        lock (_handlersLock)
        {
            int rc = _channels.BindInterdomain(this, remoteDomain, remotePort, out localPort);
            if (rc != 0)
                return rc;
            AddHandler(localPort, handler);
        }
        // The bind's pending bit may have been looked at before the handler existed.
        _wake.Set();
        return 0;
    }

    /// <summary>
    /// A new local port that <paramref name="remoteDomain"/> may bind to (EVTCHNOP_alloc_unbound),
    /// its events going to <paramref name="handler"/>. Returns 0 or a negative Xen errno.
    /// </summary>
    public int AllocUnbound(ushort remoteDomain, Action handler, out uint localPort)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(_stopping, this);
        EnsureDispatcher();
        lock (_handlersLock)
        {
            int rc = _channels.AllocUnbound(this, DomainIds.Self, remoteDomain, out localPort);
            if (rc != 0)
                return rc;
            AddHandler(localPort, handler);
        }
        return 0;
    }

    /// <summary>Signals the remote end of <paramref name="localPort"/> (EVTCHNOP_send). 0 or a negative Xen errno.</summary>
    public int Notify(uint localPort) => _channels.Send(this, localPort);

    /// <summary>Closes <paramref name="localPort"/> and forgets its handler. 0 or a negative Xen errno.</summary>
    public int Unbind(uint localPort)
    {
        lock (_handlersLock)
        {
            if (_handlers.Remove(localPort))
                _handled[localPort / 64] &= ~(1UL << (int)(localPort % 64));
        }
        return _channels.Close(this, localPort);
    }

    private void AddHandler(uint port, Action handler)
    {
        _handlers[port] = handler;
        _handled[port / 64] |= 1UL << (int)(port % 64);
    }

    private void EnsureDispatcher()
    {
        if (Volatile.Read(ref _dispatcher) is not null)
            return;
        lock (_threadLock)
        {
            if (_dispatcher is not null || _stopping)
                return;
            var thread = new Thread(Dispatch) { IsBackground = true, Name = "Domain0 events" };
            thread.Start();
            Volatile.Write(ref _dispatcher, thread);
        }
    }

    private void Dispatch()
    {
        var ready = new List<Action>();
        while (true)
        {
            _wake.Wait();
            if (_stopping)
                return;
            // Reset before looking: a kick from here on sets it again and is not lost.
            _wake.Reset();
            TakePending(ready);
            foreach (Action handler in ready)
            {
                try
                {
                    handler();
                }
                catch (Exception e)
                {
                    // A backend's bug must not stop every other backend's events.
                    _logger.LogError(e, "Domain0 event handler failed");
                }
            }
            ready.Clear();
        }
    }

    /// <summary>
    /// A 2-level upcall handler's work, in the guest's order: clear upcall_pending, take the
    /// selector, then acknowledge the pending, unmasked ports that have a handler. Every word is
    /// looked at, not only those the selector names, so that a port whose event arrived before its
    /// handler was registered is still seen.
    /// </summary>
    private void TakePending(List<Action> ready)
    {
        Span<byte> vcpuInfo = VcpuInfo(0);
        Volatile.Write(ref vcpuInfo[SharedInfoLayout.UpcallPending], 0);
        Interlocked.Exchange(ref MemoryMarshal.AsRef<ulong>(vcpuInfo.Slice(SharedInfoLayout.PendingSelector, 8)), 0);
        Span<ulong> pending = MemoryMarshal.Cast<byte, ulong>(_sharedInfo.AsSpan(SharedInfoLayout.EventChannelPending, TwoLevelEventChannels.MaxPorts / 8));
        Span<ulong> masked = MemoryMarshal.Cast<byte, ulong>(_sharedInfo.AsSpan(SharedInfoLayout.EventChannelMask, TwoLevelEventChannels.MaxPorts / 8));
        lock (_handlersLock)
        {
            for (int word = 0; word < pending.Length; word++)
            {
                ulong bits = Volatile.Read(ref pending[word]) & ~Volatile.Read(ref masked[word]) & _handled[word];
                if (bits == 0)
                    continue;
                Interlocked.And(ref pending[word], ~bits);
                while (bits != 0)
                {
                    int bit = System.Numerics.BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    ready.Add(_handlers[(uint)(word * 64 + bit)]);
                }
            }
        }
    }

    /// <summary>Stops the dispatcher and closes every port (each peer's end goes back to unbound).</summary>
    public void Dispose()
    {
        Thread? thread;
        lock (_threadLock)
        {
            if (_stopping)
                return;
            _stopping = true;
            thread = _dispatcher;
        }
        _wake.Set();
        if (thread is not null && thread != Thread.CurrentThread)
            thread.Join();
        _channels.CloseAll(this);
        lock (_handlersLock)
        {
            _handlers.Clear();
            Array.Clear(_handled);
        }
    }
}
