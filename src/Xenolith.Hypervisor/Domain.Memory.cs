namespace Xenolith.Hypervisor;

// The domain's memory allowance (Xen's tot_pages / max_pages) and its e820 map.
public sealed partial class Domain
{
    /// <summary>Frames the domain holds (Xen's tot_pages).</summary>
    public ulong TotalPages { get; internal set; }

    /// <summary>The most it may hold (Xen's max_pages): ballooning stays within this.</summary>
    public ulong MaxPages { get; set; }

    /// <summary>The e820 map the toolstack set (XENMEM_set_memory_map); empty means none was set.</summary>
    public IReadOnlyList<E820Entry> MemoryMap { get; set; } = [];

    /// <summary>
    /// A frame the domain owns that the hypervisor holds for it (Xen's xenheap pages shared with the
    /// guest; here shared_info and the grant-table frames): not counted in <see cref="TotalPages"/>,
    /// and memory_op never lets the guest give it back or exchange it.
    /// </summary>
    internal bool IsHypervisorPage(ulong mfn) => mfn == SharedInfoMfn || Grants.IsTableFrame(mfn);
}

/// <summary>One e820 record as XENMEM_memory_map returns it (20 bytes packed).</summary>
public readonly record struct E820Entry(ulong Address, ulong Size, uint Type)
{
    public const uint Ram = 1;
    public const uint Reserved = 2;
}
