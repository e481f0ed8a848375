using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;

namespace Xenolith.Hypervisor;

// Events into the guest: kicks, the upcall, blocking and polling (Xen's vcpu_kick, the return-to-guest
// event check of entry.S, vcpu_block and do_poll).
public sealed partial class Vcpu
{
    private readonly Lock _kickLock = new();

    /// <summary>Under <see cref="_kickLock"/>: the vCPU thread exists and may be signalled.</summary>
    private bool _threadAlive;

    /// <summary>1 from just before the pending-event check until KVM_RUN returns: a kick then needs a signal.</summary>
    private int _inGuest;

    /// <summary>kvm_run's sync registers hold the guest's state (true after the first run).</summary>
    private bool _registersValid;

    /// <summary>SCHEDOP_poll's ports while the vCPU polls, else null.</summary>
    private volatile int[]? _pollPorts;

    /// <summary>Where this vCPU's vcpu_info lives: its shared_info slot, or the page VCPUOP_register_vcpu_info named.</summary>
    private ulong? _vcpuInfoAddress;

    /// <summary>The stand-in vcpu_info of a vCPU beyond shared_info's 32 slots that has registered none (Xen's dummy_vcpu_info).</summary>
    private readonly byte[] _dummyVcpuInfo = new byte[SharedInfoLayout.VcpuInfoSize];

    /// <summary>Kicks that needed a signal (the vCPU was running guest code): for tests and benchmarks.</summary>
    public long KickSignals => Interlocked.Read(ref _kickSignals);
    private long _kickSignals;

    /// <summary>This vCPU's vcpu_info: in shared_info, or where the guest registered it.</summary>
    internal Span<byte> VcpuInfo => _vcpuInfoAddress is { } address
        ? Domain.Xen.Memory.Block.GetSpan(address, SharedInfoLayout.VcpuInfoSize)
        : _dummyVcpuInfo;

    private static ulong? DefaultVcpuInfoAddress(Domain domain, int id) => id < SharedInfoLayout.LegacyMaxVcpus
        ? (domain.SharedInfoMfn << MachineMemory.PageShift) + (ulong)(id * SharedInfoLayout.VcpuInfoSize)
        : null;

    /// <summary>
    /// Xen's vcpu_kick: evtchn_upcall_pending was just set, or the vCPU must look at its state (pause,
    /// stop). A blocked vCPU wakes; one running guest code is interrupted (a signal ends KVM_RUN); the
    /// vCPU's own thread delivers on its way back to the guest anyway.
    /// </summary>
    public void Kick()
    {
        _wake.Set();
        if (Thread.CurrentThread == _thread)
            return;
        // Pairs with the exchange in RunLoop: either the vCPU sees the new pending state before it
        // enters the guest, or we see it inside and signal it.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _inGuest) == 0)
            return;
        lock (_kickLock)
        {
            if (!_threadAlive)
                return;
            _kvm.Kick();
            Interlocked.Increment(ref _kickSignals);
        }
    }

    /// <summary>
    /// The return-to-guest check (Xen's test_guest_events): with an upcall pending and events not
    /// masked, bounce to the guest's event callback with events masked. Runs after every exit,
    /// hypercall, exception and interrupted run. When the vCPU stopped inside a hypervisor stub,
    /// the stub's own exit (or, for the shadow-sync stub, one requested now) delivers instead.
    /// </summary>
    private void DeliverPendingUpcall()
    {
        Span<byte> info = VcpuInfo;
        if (info[SharedInfoLayout.UpcallPending] == 0 || info[SharedInfoLayout.UpcallMask] != 0 || Pv.EventCallback == 0)
            return;
        if (!_frameLoaded)
        {
            if (!_registersValid)
                return;
            if (_kvm.Sregs.Cs.Dpl == 0 || !GuestPageTables.IsGuestAddress(_kvm.Regs.Rip))
            {
                // Inside a hypervisor stub. Most exit within a few instructions and deliver then; but
                // one past its out (a trap stub's add/iretq) or past the shadow-sync stub's flag test
                // returns straight to the guest, so a kick comes back shortly in any case.
                if (IsInShadowSyncStub)
                    RequestExitFromShadowSync();
                _redeliveryTimer.Set(Domain.Xen.Clock.Now + RedeliveryDelay);
                return;
            }
            LoadFrameFromRegisters();
        }
        if (Bounce(Pv.EventCallback, maskEvents: true, null, "event upcall"))
        {
            Upcalls++;
            StoreFrame();
        }
    }

    /// <summary>How long after a kick that landed inside a stub the vCPU is kicked again: far longer than any stub runs.</summary>
    private const long RedeliveryDelay = 100_000;

    private void OnRedeliveryTimer() => Kick();

    /// <summary>Event callbacks entered so far.</summary>
    public long Upcalls { get; private set; }

    /// <summary>An event the guest should see now: pending and not masked (Xen's local_events_need_delivery).</summary>
    private bool EventsNeedDelivery
    {
        get
        {
            Span<byte> info = VcpuInfo;
            return Volatile.Read(ref info[SharedInfoLayout.UpcallPending]) != 0 && info[SharedInfoLayout.UpcallMask] == 0;
        }
    }

    /// <summary>
    /// SCHEDOP_block: unmask events and sleep until one needs delivery. A send that lands between the
    /// check and the sleep is not lost: it sets the wake event before it kicks.
    /// </summary>
    internal void Block()
    {
        EventsMasked = false;
        SleepUntil(() => EventsNeedDelivery, wakeOnce: false);
    }

    /// <summary>hlt from the guest kernel: sleep until an event is pending (masked or not, as a CPU's hlt wakes on any interrupt it will take later).</summary>
    internal void BlockUntilEventPending() =>
        SleepUntil(() => Volatile.Read(ref VcpuInfo[SharedInfoLayout.UpcallPending]) != 0, wakeOnce: false);

    /// <summary>
    /// SCHEDOP_poll: 0 at once if one of <paramref name="ports"/> is pending or an event needs
    /// delivery; otherwise sleep until woken (a listed port becoming pending, even masked; any event
    /// for this vCPU; the timeout at system time <paramref name="timeout"/>, 0 for none).
    /// </summary>
    internal void Poll(int[] ports, long timeout)
    {
        bool Ready()
        {
            foreach (int port in ports)
            {
                if (Domain.Xen.EventChannels.IsPending(Domain, port))
                    return true;
            }
            return EventsNeedDelivery;
        }

        if (Ready())
            return;
        _pollPorts = ports;
        if (timeout != 0)
            _pollTimer.Set(timeout);
        SleepUntil(Ready, wakeOnce: true);
        _pollTimer.Cancel();
        _pollPorts = null;
    }

    /// <summary>Whether this vCPU is polling <paramref name="port"/> (evtchn_check_pollers).</summary>
    internal bool IsPolling(int port) => _pollPorts is { } ports && Array.IndexOf(ports, port) >= 0;

    private void SleepUntil(Func<bool> done, bool wakeOnce)
    {
        SetRunstate(Runstate.Blocked);
        IsBlocked = true;
        while (!_stop)
        {
            _wake.Reset();
            if (done())
                break;
            _wake.Wait();
            if (wakeOnce)
                break;
        }
        IsBlocked = false;
        SetRunstate(Runstate.Running);
    }

    /// <summary>
    /// VCPUOP_register_vcpu_info: moves vcpu_info into a frame the domain owns, which then holds a
    /// writable type reference. As on Xen the old contents are copied and everything is marked
    /// pending, so no event is lost in the move. Once only: -EINVAL after that, for a frame that is
    /// not the domain's or not writable, and (here) for an offset not 8-byte aligned, which the
    /// hypervisor's atomic updates need.
    /// </summary>
    internal long RegisterVcpuInfo(ulong mfn, uint offset)
    {
        if (offset > MachineMemory.PageSize - SharedInfoLayout.VcpuInfoSize || offset % sizeof(ulong) != 0)
            return -XenErrno.EINVAL;
        PageTypes types = Domain.Xen.PageTypes;
        lock (types.Memory.SyncRoot)
        {
            if (_vcpuInfoRegistered || types.GetPageAndType(mfn, FrameType.Writable, Domain) != 0)
                return -XenErrno.EINVAL;
            _vcpuInfoRegistered = true;
        }
        ulong address = (mfn << MachineMemory.PageShift) + offset;
        Span<byte> target = Domain.Xen.Memory.Block.GetSpan(address, SharedInfoLayout.VcpuInfoSize);
        VcpuInfo.CopyTo(target);
        _vcpuInfoAddress = address;
        System.Runtime.InteropServices.MemoryMarshal.Write(target[SharedInfoLayout.PendingSelector..], ulong.MaxValue);
        target[SharedInfoLayout.UpcallPending] = 1;
        Kick();
        return 0;
    }

    private bool _vcpuInfoRegistered;
}
