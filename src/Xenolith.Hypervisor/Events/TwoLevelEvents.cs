using System.Runtime.InteropServices;
using Xenolith.Abi;

namespace Xenolith.Hypervisor.Events;

/// <summary>
/// The 2-level event ABI's bits in shared memory (Xen's event_2l.c): a pending and a mask bit per
/// port in shared_info, a selector bit per 64-port word in each vCPU's evtchn_pending_sel, and
/// evtchn_upcall_pending. The guest flips the same bits concurrently with locked instructions, so
/// every read-modify-write here is an interlocked one, done in Xen's order: the guest clears
/// upcall_pending, then selector bits, then pending bits, and this side sets them the other way round.
/// </summary>
internal static class TwoLevelEvents
{
    private const int PortsPerWord = TwoLevelEventChannels.BitsPerWord;

    /// <summary>evtchn_2l_set_pending: marks the port pending and, unless it is masked, notifies <paramref name="vcpu"/>.</summary>
    public static void SetPending(IEventChannelDomain domain, int vcpu, int port)
    {
        Span<byte> sharedInfo = domain.SharedInfo;
        if (TestAndSet(ref Word(sharedInfo, SharedInfoLayout.EventChannelPending, port), port))
            return;
        if (!Test(ref Word(sharedInfo, SharedInfoLayout.EventChannelMask, port), port))
            NotifySelector(domain, vcpu, port);
        domain.WakePollers(port);
    }

    /// <summary>evtchn_2l_clear_pending.</summary>
    public static void ClearPending(IEventChannelDomain domain, int port) =>
        Interlocked.And(ref Word(domain.SharedInfo, SharedInfoLayout.EventChannelPending, port), ~Bit(port));

    /// <summary>
    /// evtchn_2l_unmask: clears the mask bit and, if that unmasked a pending port, notifies
    /// <paramref name="vcpu"/> as the send would have had the port not been masked.
    /// </summary>
    public static void Unmask(IEventChannelDomain domain, int vcpu, int port)
    {
        Span<byte> sharedInfo = domain.SharedInfo;
        if (TestAndClear(ref Word(sharedInfo, SharedInfoLayout.EventChannelMask, port), port)
            && Test(ref Word(sharedInfo, SharedInfoLayout.EventChannelPending, port), port))
            NotifySelector(domain, vcpu, port);
    }

    public static bool IsPending(IEventChannelDomain domain, int port) =>
        Test(ref Word(domain.SharedInfo, SharedInfoLayout.EventChannelPending, port), port);

    /// <summary>Sets the port's selector bit; only the setter of a clear selector bit goes on to raise the upcall.</summary>
    private static void NotifySelector(IEventChannelDomain domain, int vcpu, int port)
    {
        Span<byte> vcpuInfo = domain.VcpuInfo(vcpu);
        int selector = port / PortsPerWord;
        ref ulong selectorWord = ref MemoryMarshal.Cast<byte, ulong>(vcpuInfo.Slice(SharedInfoLayout.PendingSelector, sizeof(ulong)))[0];
        if (TestAndSet(ref selectorWord, selector))
            return;
        // vcpu_mark_events_pending: kick only if upcall_pending was clear, so one kick per upcall.
        if (!TestAndSetUpcallPending(ref vcpuInfo[SharedInfoLayout.UpcallPending]))
            domain.KickVcpu(vcpu);
    }

    /// <summary>The word of the shared_info bitmap at <paramref name="offset"/> that holds <paramref name="port"/>'s bit.</summary>
    private static ref ulong Word(Span<byte> sharedInfo, int offset, int port) =>
        ref MemoryMarshal.Cast<byte, ulong>(sharedInfo.Slice(offset, TwoLevelEventChannels.MaxPorts / 8))[port / PortsPerWord];

    private static ulong Bit(int index) => 1UL << (index % PortsPerWord);

    private static bool Test(ref ulong word, int index) => (Volatile.Read(ref word) & Bit(index)) != 0;

    private static bool TestAndSet(ref ulong word, int index) => (Interlocked.Or(ref word, Bit(index)) & Bit(index)) != 0;

    private static bool TestAndClear(ref ulong word, int index) => (Interlocked.And(ref word, ~Bit(index)) & Bit(index)) != 0;

    /// <summary>Bit 0 of evtchn_upcall_pending, set with a byte-wide compare-exchange (the guest stores the byte plainly).</summary>
    private static bool TestAndSetUpcallPending(ref byte upcallPending)
    {
        byte seen = Volatile.Read(ref upcallPending);
        while ((seen & 1) == 0)
        {
            byte before = Interlocked.CompareExchange(ref upcallPending, (byte)(seen | 1), seen);
            if (before == seen)
                return false;
            seen = before;
        }
        return true;
    }
}
