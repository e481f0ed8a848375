namespace Xenolith.Hypervisor.Memory;

/// <summary>
/// One machine frame's bookkeeping (Xen's struct page_info): its owner, its general reference
/// count (one held while the owner has it allocated, one per mapping or other use), and its type
/// with a type reference count. A frame may change type only while its type count is zero; a
/// page-table type is validated when its count leaves zero and devalidated when it returns there.
/// </summary>
public struct PageInfo
{
    public ushort Owner;
    public FrameType Type;
    public PageFlags Flags;
    public uint RefCount;
    public uint TypeCount;

    /// <summary>Entries in this table that map a table of the same level (linear page tables).</summary>
    public ushort LinearEntries;

    /// <summary>Same-level entries elsewhere that map this table.</summary>
    public ushort LinearUses;

    /// <summary>
    /// General references held by someone other than the owner (a Domain0 backend's mapping,
    /// another domain's grant mapping), included in <see cref="RefCount"/>; of them,
    /// <see cref="ForeignWritable"/> also hold a writable type reference. Counted apart so that
    /// when the owner dies the frame can stay with its last holders instead of being reused.
    /// </summary>
    public uint ForeignRefs;

    public uint ForeignWritable;

    public readonly bool IsAllocated => (Flags & PageFlags.Allocated) != 0;
    public readonly bool IsValidated => (Flags & PageFlags.Validated) != 0;
    public readonly bool IsPinned => (Flags & PageFlags.Pinned) != 0;
    public readonly bool IsPageTable => Type is FrameType.L1PageTable or FrameType.L2PageTable or FrameType.L3PageTable or FrameType.L4PageTable;

    public static PageInfo Allocated(ushort owner) => new() { Owner = owner, RefCount = 1, Flags = PageFlags.Allocated };
}

[Flags]
public enum PageFlags : byte
{
    None = 0,

    /// <summary>The owner holds it (Xen's PGC_allocated): one general reference.</summary>
    Allocated = 1,

    /// <summary>Its page-table contents have been checked and hold references (PGT_validated).</summary>
    Validated = 2,

    /// <summary>Pinned by the guest (PGT_pinned): one type and one general reference.</summary>
    Pinned = 4,

    /// <summary>Its owner is dead; only the outside references that kept it remain, and nothing new may take one.</summary>
    Orphaned = 8,
}
