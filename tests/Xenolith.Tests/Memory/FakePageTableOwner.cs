using Xenolith.Hypervisor.Memory;

namespace Xenolith.Tests.Memory;

/// <summary>
/// An <see cref="IPageTableOwner"/> that records what page-table validation asks of its domain, and
/// fills the hypervisor's L4 slots with entries no guest could have written.
/// </summary>
public sealed class FakePageTableOwner(ushort id) : IPageTableOwner
{
    public const int FirstHypervisorSlot = 256;
    public const int EndHypervisorSlot = 272;

    /// <summary>Far past any test's machine memory, so a marker never names a real frame.</summary>
    private const ulong MarkerMfnBase = 0xf_eed0_0000;

    public ushort Id { get; } = id;

    /// <summary>Every machine address passed to QueueShadowSync, in order.</summary>
    public List<ulong> ShadowSyncs { get; } = [];

    /// <summary>Every frame passed to QueueShadowDrop, in order.</summary>
    public List<ulong> ShadowDrops { get; } = [];

    /// <summary>How many times the hypervisor slots were written (once per L4 validation).</summary>
    public int HypervisorSlotWrites { get; private set; }

    /// <summary>What <see cref="WriteHypervisorL4Slots"/> puts in <paramref name="slot"/>.</summary>
    public static ulong HypervisorSlotMarker(int slot) =>
        Pte.Make(MarkerMfnBase + (ulong)slot, Pte.Present | Pte.Writable | Pte.Accessed | Pte.Dirty | Pte.NoExecute);

    public void WriteHypervisorL4Slots(Span<ulong> l4)
    {
        for (int slot = FirstHypervisorSlot; slot < EndHypervisorSlot; slot++)
            l4[slot] = HypervisorSlotMarker(slot);
        HypervisorSlotWrites++;
    }

    public void QueueShadowSync(ulong machineAddress) => ShadowSyncs.Add(machineAddress);

    public void QueueShadowDrop(ulong mfn) => ShadowDrops.Add(mfn);

    public void ClearRecords()
    {
        ShadowSyncs.Clear();
        ShadowDrops.Clear();
    }
}
