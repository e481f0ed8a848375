using Xenolith.Hypervisor.Grants;
using Xenolith.Hypervisor.Memory;
using Xenolith.Tests.Memory;

namespace Xenolith.Tests.Grants;

/// <summary>
/// An <see cref="IGrantDomain"/> for the grant core without KVM: it records the shadow syncs the
/// hypervisor asks for and fills the hypervisor's L4 slots as <see cref="FakePageTableOwner"/> does,
/// so <see cref="PageTypeInvariantChecker"/> checks its tables too.
/// </summary>
public sealed class FakeGrantDomain(ushort id) : IGrantDomain
{
    public ushort Id { get; } = id;
    public bool IsDying { get; set; }
    public DomainGrants Grants { get; } = new();

    /// <summary>Every machine address passed to QueueShadowSync, in order.</summary>
    public List<ulong> ShadowSyncs { get; } = [];

    public void WriteHypervisorL4Slots(Span<ulong> l4)
    {
        for (int slot = FakePageTableOwner.FirstHypervisorSlot; slot < FakePageTableOwner.EndHypervisorSlot; slot++)
            l4[slot] = FakePageTableOwner.HypervisorSlotMarker(slot);
    }

    public void QueueShadowSync(ulong machineAddress) => ShadowSyncs.Add(machineAddress);

    public void QueueShadowDrop(ulong mfn) => ShadowSyncs.Add((mfn << MachineMemory.PageShift) + 1);
}
