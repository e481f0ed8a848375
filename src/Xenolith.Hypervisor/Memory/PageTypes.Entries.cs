using Xenolith.Abi;

namespace Xenolith.Hypervisor.Memory;

// Changing one entry (Xen's mod_l*_entry, and mmu_update's write to a frame that is no table).
public sealed partial class PageTypes
{
    /// <summary>
    /// MMU_NORMAL_PT_UPDATE / MMU_PT_UPDATE_PRESERVE_AD on the quadword at machine address
    /// <paramref name="pointer"/>: an entry of a validated table is changed only if the new value
    /// passes validation; a frame in no use as a table is written as ordinary writable memory.
    /// </summary>
    public int UpdateEntry(ulong pointer, ulong value, bool preserveAccessedDirty, IPageTableOwner owner)
    {
        ulong mfn = pointer >> MachineMemory.PageShift;
        // Xen holds a general reference to the frame for the update (get_page ... put_page). Under
        // SyncRoot, checking what get_page checks is equivalent, because nothing below can drop the
        // frame's last general reference: each type reference of a validated table comes with a
        // general one, and changing one of its entries drops only references below its own level,
        // or to a same-level table that holds no linear entries, so never the table's own type
        // references; the plain write only takes and returns a writable type.
        if (!CanGetPage(mfn, owner))
            return -XenErrno.EINVAL;
        int index = (int)((pointer & (MachineMemory.PageSize - 1)) / sizeof(ulong));
        ref PageInfo table = ref Memory.Page(mfn);
        int level = PageTableRules.LevelOf(table.Type);
        if (level != 0 && table.IsValidated && table.TypeCount > 0)
            return ModifyEntry(mfn, index, value, level, preserveAccessedDirty, owner);
        int rc = GetPageType(mfn, FrameType.Writable, owner);
        if (rc != 0)
            return rc;
        Entry(mfn, index) = value;
        PutPageType(mfn, owner);
        return 0;
    }

    /// <summary>
    /// mod_lN_entry: replaces entry <paramref name="index"/> of validated table <paramref name="tableMfn"/>.
    /// The new entry's references are taken before the old one's are dropped, so an entry that
    /// keeps its frame never lets the frame's count touch zero; a change that keeps the frame and its
    /// present and writable bits takes no references at all (Xen's fast path).
    /// </summary>
    public int ModifyEntry(ulong tableMfn, int index, ulong value, int level, bool preserveAccessedDirty, IPageTableOwner owner)
    {
        if (level == 4 && !PageTableRules.IsGuestL4Slot(index))
            return -XenErrno.EINVAL;
        ref ulong entry = ref Entry(tableMfn, index);
        ulong old = entry;
        bool oldPresent = (old & Pte.Present) != 0;
        // Xen's update_intpte ORs the live entry's A/D into whatever it stores, present or not.
        if (preserveAccessedDirty)
            value |= old & (Pte.Accessed | Pte.Dirty);
        if ((value & Pte.Present) != 0)
        {
            if ((value & PageTableRules.Disallowed(level)) != 0)
                return -XenErrno.EINVAL;
            value = PageTableRules.Adjust(value, level);
            bool sameReferences = oldPresent && ((old ^ value) & PageTableRules.ReferenceBits) == 0;
            if (!sameReferences)
            {
                int rc = GetEntryReferences(value, level, tableMfn, owner);
                if (rc != 0)
                    return rc;
            }
            entry = value;
            if (sameReferences)
            {
                if (value != old)
                    owner.QueueShadowSync(EntryAddress(tableMfn, index));
                return 0;
            }
        }
        else
        {
            entry = value;
        }
        if (oldPresent)
        {
            owner.QueueShadowSync(EntryAddress(tableMfn, index));
            PutEntryReferences(old, level, tableMfn, owner);
        }
        return 0;
    }

    private static ulong EntryAddress(ulong tableMfn, int index) => (tableMfn << MachineMemory.PageShift) + (ulong)index * sizeof(ulong);

    /// <summary>One entry in place: the per-entry paths need no span over the whole table.</summary>
    private ref ulong Entry(ulong tableMfn, int index) => ref Memory.Block.GetRef<ulong>(EntryAddress(tableMfn, index));
}
