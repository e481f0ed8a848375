using Xenolith.Abi;

namespace Xenolith.Hypervisor.Memory;

// References to a domain's frame held by someone else: Domain0's backends and other domains'
// grant mappings (Xen's get_page(pg, rd) in the grant and foreign-mapping paths), and what
// happens to such frames when either side dies.
public sealed partial class PageTypes
{
    /// <summary>
    /// A general reference to <paramref name="mfn"/>, which <paramref name="owner"/> must own, for
    /// someone else; with <paramref name="writable"/> also a writable type reference, so the frame
    /// cannot become a page table (or a descriptor table) while it is written from outside.
    /// Returns 0, -EINVAL (not the owner's, free, orphaned, or a count at its limit) or -EBUSY (in use as a
    /// type that excludes writing).
    /// </summary>
    public int GetForeignReference(ulong mfn, ushort owner, bool writable)
    {
        if (!Memory.IsValidFrame(mfn))
            return -XenErrno.EINVAL;
        ref PageInfo page = ref Memory.Page(mfn);
        if (page.Owner != owner || page.RefCount == 0 || page.RefCount == uint.MaxValue || page.ForeignRefs == uint.MaxValue
            || (page.Flags & PageFlags.Orphaned) != 0)
            return -XenErrno.EINVAL;
        page.RefCount++;
        if (writable && GetPageType(mfn, FrameType.Writable, ForeignHolder.Instance) != 0)
        {
            PutPage(mfn);
            return -XenErrno.EBUSY;
        }
        ref PageInfo after = ref Memory.Page(mfn);
        after.ForeignRefs++;
        if (writable)
            after.ForeignWritable++;
        return 0;
    }

    /// <summary>Drops what <see cref="GetForeignReference"/> took; the last reference to a dead domain's frame frees it.</summary>
    public void PutForeignReference(ulong mfn, bool writable)
    {
        ref PageInfo page = ref Memory.Page(mfn);
        if (page.ForeignRefs == 0 || (writable && page.ForeignWritable == 0))
            throw new InvalidOperationException($"mfn {mfn:x}: foreign reference count below zero");
        page.ForeignRefs--;
        if (writable)
        {
            page.ForeignWritable--;
            PutPageType(mfn, ForeignHolder.Instance);
        }
        PutPage(mfn);
    }

    /// <summary>
    /// Domain destruction (Xen's domain_relinquish_resources). The VM is gone, so none of its tables
    /// is in use: first every L1 entry of the domain that maps another owner's frame (a grant
    /// mapping) drops its references; then each of its frames returns to the pool, except those
    /// still referenced from outside, which stay (owned by the dead id, never reused) with exactly
    /// the outside references, until the last holder lets go.
    /// </summary>
    public void ReleaseDomain(ushort id)
    {
        lock (Memory.SyncRoot)
        {
            var holder = new DeadOwner(id);
            for (ulong mfn = 1; mfn < Memory.FrameCount; mfn++)
            {
                ref PageInfo table = ref Memory.Page(mfn);
                if (table.Owner != id || table.Type != FrameType.L1PageTable || !table.IsValidated || table.TypeCount == 0)
                    continue;
                Span<ulong> entries = Entries(mfn);
                for (int i = 0; i < entries.Length; i++)
                {
                    ulong entry = entries[i];
                    if ((entry & Pte.Present) == 0 || !Memory.IsValidFrame(Pte.Mfn(entry)) || Memory.Page(Pte.Mfn(entry)).Owner == id)
                        continue;
                    entries[i] = 0;
                    PutEntryReferences(entry, 1, mfn, holder);
                }
            }
            for (ulong mfn = 1; mfn < Memory.FrameCount; mfn++)
            {
                ref PageInfo page = ref Memory.Page(mfn);
                if (page.Owner != id)
                    continue;
                if (page.ForeignRefs == 0)
                {
                    Memory.Release(mfn);
                    continue;
                }
                page = new PageInfo
                {
                    Owner = id,
                    RefCount = page.ForeignRefs,
                    ForeignRefs = page.ForeignRefs,
                    ForeignWritable = page.ForeignWritable,
                    TypeCount = page.ForeignWritable,
                    Type = page.ForeignWritable != 0 ? FrameType.Writable : FrameType.None,
                    Flags = PageFlags.Orphaned,
                };
            }
        }
    }

    /// <summary>Stands for the holder of a foreign reference: only ever asked about writable types, which need no table owner.</summary>
    private sealed class ForeignHolder : IPageTableOwner
    {
        public static readonly ForeignHolder Instance = new();
        public ushort Id => DomainIds.Invalid;
        public void WriteHypervisorL4Slots(Span<ulong> l4) => throw new InvalidOperationException("a foreign holder has no page tables");
        public void QueueShadowSync(ulong machineAddress) { }
        public void QueueShadowDrop(ulong mfn) { }
    }

    /// <summary>A destroyed domain's tables: their VM is gone, so no shadow needs syncing.</summary>
    private sealed class DeadOwner(ushort id) : IPageTableOwner
    {
        public ushort Id => id;
        public void WriteHypervisorL4Slots(Span<ulong> l4) => throw new InvalidOperationException("a dead domain validates no tables");
        public void QueueShadowSync(ulong machineAddress) { }
        public void QueueShadowDrop(ulong mfn) { }
    }
}
