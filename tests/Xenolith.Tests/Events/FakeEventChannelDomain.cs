using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Events;

namespace Xenolith.Tests.Events;

/// <summary>
/// An <see cref="IEventChannelDomain"/> over a plain shared_info array (each vCPU's vcpu_info in
/// it, as for Xen's first 32 vCPUs) that records the kicks and poller wake-ups it is asked for,
/// and flips the guest's side of the bits the way a guest kernel does, with locked operations.
/// </summary>
public sealed class FakeEventChannelDomain(ushort id, int vcpus = 2, int maxPort = EventChannelTable.DefaultMaxPort) : IEventChannelDomain
{
    private readonly byte[] _sharedInfo = new byte[4096];

    public ushort Id { get; } = id;
    public bool IsPrivileged { get; set; }
    public bool IsDying { get; set; }
    public int VcpuCount { get; set; } = vcpus;
    public Span<byte> SharedInfo => _sharedInfo;
    public Span<byte> VcpuInfo(int vcpu) => _sharedInfo.AsSpan(vcpu * SharedInfoLayout.VcpuInfoSize, SharedInfoLayout.VcpuInfoSize);
    public EventChannelTable EventChannels { get; } = new(maxPort);

    /// <summary>Every vCPU passed to KickVcpu, in order.</summary>
    public List<int> Kicks { get; } = [];

    /// <summary>Every port passed to WakePollers, in order.</summary>
    public List<int> PollerWakeups { get; } = [];

    public void KickVcpu(int vcpu) => Kicks.Add(vcpu);

    public void WakePollers(int port) => PollerWakeups.Add(port);

    public void ClearRecords()
    {
        Kicks.Clear();
        PollerWakeups.Clear();
    }

    // The guest's view of the bits.

    public bool IsPendingBit(int port) => (PendingWords[port / 64] & 1UL << (port % 64)) != 0;

    public bool IsMasked(int port) => (MaskWords[port / 64] & 1UL << (port % 64)) != 0;

    /// <summary>Ports 64 * index .. 64 * index + 63 of evtchn_pending, one bit each.</summary>
    public ulong PendingWord(int index) => Volatile.Read(ref PendingWords[index]);

    public ulong MaskWord(int index) => Volatile.Read(ref MaskWords[index]);

    public ulong Selector(int vcpu) => Volatile.Read(ref SelectorWord(vcpu));

    public bool UpcallPending(int vcpu) => VcpuInfo(vcpu)[SharedInfoLayout.UpcallPending] != 0;

    public void SetMaskBit(int port) => Interlocked.Or(ref MaskWords[port / 64], 1UL << (port % 64));

    /// <summary>What Linux's evtchn_2l_unmask does itself on the port's own vCPU: clears the bit, no hypercall.</summary>
    public void ClearMaskBit(int port) => Interlocked.And(ref MaskWords[port / 64], ~(1UL << (port % 64)));

    public void ClearPendingBit(int port) => Interlocked.And(ref PendingWords[port / 64], ~(1UL << (port % 64)));

    /// <summary>A guest setting a pending bit itself (nothing stops it: the page is writable).</summary>
    public void SetPendingBit(int port) => Interlocked.Or(ref PendingWords[port / 64], 1UL << (port % 64));

    /// <summary>The start of an upcall: clear upcall_pending, then take the whole selector.</summary>
    public ulong TakeUpcall(int vcpu)
    {
        VcpuInfo(vcpu)[SharedInfoLayout.UpcallPending] = 0;
        return Interlocked.Exchange(ref SelectorWord(vcpu), 0);
    }

    /// <summary>
    /// An upcall handler as Linux's 2-level one runs it: take the selector, then acknowledge (clear)
    /// every pending bit that is not masked in the words it names. Returns the ports handled.
    /// </summary>
    public List<int> HandleUpcall(int vcpu)
    {
        var handled = new List<int>();
        ulong selector = TakeUpcall(vcpu);
        for (int word = 0; word < 64; word++)
        {
            if ((selector & 1UL << word) == 0)
                continue;
            ulong ready = PendingWord(word) & ~MaskWord(word);
            Interlocked.And(ref PendingWords[word], ~ready);
            for (int bit = 0; bit < 64; bit++)
                if ((ready & 1UL << bit) != 0)
                    handled.Add(word * 64 + bit);
        }
        return handled;
    }

    private Span<ulong> PendingWords => MemoryMarshal.Cast<byte, ulong>(_sharedInfo.AsSpan(SharedInfoLayout.EventChannelPending, 512));

    private Span<ulong> MaskWords => MemoryMarshal.Cast<byte, ulong>(_sharedInfo.AsSpan(SharedInfoLayout.EventChannelMask, 512));

    private ref ulong SelectorWord(int vcpu) => ref MemoryMarshal.Cast<byte, ulong>(VcpuInfo(vcpu).Slice(SharedInfoLayout.PendingSelector, 8))[0];
}
