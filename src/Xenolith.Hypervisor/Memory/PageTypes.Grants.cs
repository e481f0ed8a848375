namespace Xenolith.Hypervisor.Memory;

// What grant mappings need from the page-type machinery (Xen's create_grant_pv_mapping,
// replace_grant_pv_mapping and steal_linear_address in xen/arch/x86/pv/grant_table.c): finding
// the mapper's L1, taking the references a grant PTE holds, and writing an entry whose references
// the caller already holds, without validating it as a guest-supplied entry would be.
public sealed partial class PageTypes
{
    /// <summary>Xen's map_guest_l1e: the validated L1 of <paramref name="owner"/> that maps <paramref name="va"/> under <paramref name="cr3"/>, if any.</summary>
    public bool TryFindL1(ulong cr3, ulong va, IPageTableOwner owner, out ulong l1)
    {
        l1 = 0;
        if (!GuestPageTables.IsGuestAddress(va))
            return false;
        ulong table = cr3 >> MachineMemory.PageShift;
        for (int level = 4; level >= 2; level--)
        {
            if (!Memory.IsValidFrame(table))
                return false;
            ulong entry = Entries(table)[Pte.Index(va, level)];
            if ((entry & Pte.Present) == 0 || (level == 2 && (entry & Pte.LargePage) != 0))
                return false;
            table = Pte.Mfn(entry);
        }
        if (!IsLiveL1(table, owner))
            return false;
        l1 = table;
        return true;
    }

    /// <summary>A validated L1 that <paramref name="owner"/> owns and that is in use as one (the type check before any grant PTE write).</summary>
    public bool IsLiveL1(ulong mfn, IPageTableOwner owner)
    {
        if (!Memory.IsValidFrame(mfn))
            return false;
        ref PageInfo page = ref Memory.Page(mfn);
        return page.Owner == owner.Id && page.Type == FrameType.L1PageTable && page.IsValidated && page.TypeCount > 0;
    }

    /// <summary>
    /// The references an L1 entry mapping <paramref name="mfn"/> (granted by <paramref name="granter"/>)
    /// holds once the grant code writes it into a table of <paramref name="mapper"/>: a foreign
    /// reference for another domain's frame, or, for a domain mapping its own grant, exactly what
    /// an ordinary entry of its own holds, so that every later put (an unmap, an overwrite, the
    /// table's devalidation, the mapper's death) drops the right kind. Returns 0 or a negative errno.
    /// </summary>
    public int GetGrantEntryReferences(ulong mfn, ushort granter, bool writable, IPageTableOwner mapper)
    {
        if (granter != mapper.Id)
            return GetForeignReference(mfn, granter, writable);
        if (!GetPage(mfn, mapper))
            return -Abi.XenErrno.EINVAL;
        if (writable && GetPageType(mfn, FrameType.Writable, mapper) != 0)
        {
            PutPage(mfn);
            return -Abi.XenErrno.EBUSY;
        }
        return 0;
    }

    /// <summary>
    /// Xen's UPDATE_ENTRY on an L1 for the grant code: stores <paramref name="value"/> (whose
    /// references the caller holds, or not present) at entry <paramref name="index"/> of live L1
    /// <paramref name="l1"/> and returns the old entry, whose references now belong to the caller
    /// (to drop with <see cref="PutL1EntryReferences"/>, or to move into another entry). A present
    /// entry replaced under the CPU is queued for shadow sync, as every hypervisor write is.
    /// </summary>
    public ulong ExchangeL1Entry(ulong l1, int index, ulong value, IPageTableOwner owner)
    {
        ref ulong entry = ref Entry(l1, index);
        ulong old = entry;
        entry = value;
        if ((old & Pte.Present) != 0 && old != value)
            owner.QueueShadowSync(EntryAddress(l1, index));
        return old;
    }

    /// <summary>put_page_from_l1e for an entry taken out of a table by <see cref="ExchangeL1Entry"/>.</summary>
    public void PutL1EntryReferences(ulong entry, ulong l1, IPageTableOwner owner)
    {
        if ((entry & Pte.Present) != 0)
            PutEntryReferences(entry, 1, l1, owner);
    }
}
