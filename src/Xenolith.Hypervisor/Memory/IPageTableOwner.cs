namespace Xenolith.Hypervisor.Memory;

/// <summary>What page-table validation needs from the domain whose tables it checks.</summary>
public interface IPageTableOwner
{
    ushort Id { get; }

    /// <summary>Xen's init_xen_l4_slots: fill PML4 slots 256-271 of a guest L4 with the hypervisor's entries.</summary>
    void WriteHypervisorL4Slots(Span<ulong> l4);

    /// <summary>A page-table quadword the guest may be using changed under the CPU (see Domain.QueueShadowSync).</summary>
    void QueueShadowSync(ulong machineAddress);

    /// <summary>The frame stopped being a page table: no cached translation of it may survive.</summary>
    void QueueShadowDrop(ulong mfn);
}
