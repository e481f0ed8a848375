using Xenolith.Abi;

namespace Xenolith.Hypervisor.Memory;

// Validating and devalidating whole tables, and the references each present entry holds
// (Xen's alloc_l*_table, free_l*_table, get_page_from_l*e, put_page_from_l*e).
public sealed partial class PageTypes
{
    /// <summary>
    /// alloc_lN_table: takes every present entry's references; on the first bad entry, drops the
    /// ones already taken and fails. An L4 also gets the hypervisor's slots written in.
    /// </summary>
    private int ValidateTable(ulong mfn, int level, IPageTableOwner owner)
    {
        Span<ulong> entries = Entries(mfn);
        for (int i = 0; i < entries.Length; i++)
        {
            if (level == 4 && !PageTableRules.IsGuestL4Slot(i))
                continue;
            ulong entry = entries[i];
            if ((entry & Pte.Present) == 0)
                continue;
            if ((entry & PageTableRules.Disallowed(level)) != 0)
            {
                Unwind(mfn, level, entries, i, owner);
                return -XenErrno.EINVAL;
            }
            int rc = GetEntryReferences(entry, level, mfn, owner);
            if (rc != 0)
            {
                Unwind(mfn, level, entries, i, owner);
                return rc;
            }
            entries[i] = PageTableRules.Adjust(entry, level);
        }
        if (level == 4)
            owner.WriteHypervisorL4Slots(entries);
        return 0;
    }

    private void Unwind(ulong mfn, int level, Span<ulong> entries, int end, IPageTableOwner owner)
    {
        for (int j = 0; j < end; j++)
        {
            if ((level != 4 || PageTableRules.IsGuestL4Slot(j)) && (entries[j] & Pte.Present) != 0)
                PutEntryReferences(entries[j], level, mfn, owner);
        }
    }

    /// <summary>free_lN_table: drops the references of every present entry.</summary>
    private void DevalidateTable(ulong mfn, int level, IPageTableOwner owner)
    {
        Span<ulong> entries = Entries(mfn);
        for (int i = 0; i < entries.Length; i++)
        {
            if ((level != 4 || PageTableRules.IsGuestL4Slot(i)) && (entries[i] & Pte.Present) != 0)
                PutEntryReferences(entries[i], level, mfn, owner);
        }
    }

    /// <summary>INVALID_MFN as a 52-bit physical address's frame number.</summary>
    private const ulong InvalidMfn = 0xff_ffff_ffff;

    /// <summary>
    /// get_page_from_lNe for a present entry of table <paramref name="tableMfn"/>: an L1 entry takes
    /// a general reference to a frame the domain owns, and a writable-type one if it maps it
    /// writable; an upper entry takes the next level down, or (Xen's linear page tables) a read-only
    /// reference to a validated table of its own level.
    /// </summary>
    private int GetEntryReferences(ulong entry, int level, ulong tableMfn, IPageTableOwner owner)
    {
        ulong target = Pte.Mfn(entry);
        if (level == 1)
        {
            // Past the frame table is I/O space, which no domain here may map; a frame owned by
            // anyone else (another domain, Xen, or nobody) is busy.
            if (!Memory.IsValidFrame(target))
                return target == InvalidMfn ? -XenErrno.EINVAL : -XenErrno.EPERM;
            if (!GetPage(target, owner))
                return -XenErrno.EBUSY;
            if ((entry & Pte.Writable) != 0 && GetPageType(target, FrameType.Writable, owner) != 0)
            {
                PutPage(target);
                return -XenErrno.EBUSY;
            }
            return 0;
        }
        int result = GetPageAndType(target, PageTableRules.TableType(level - 1), owner);
        if (result == -XenErrno.EINVAL && GetLinearReference(entry, level, tableMfn, owner))
            return 0;
        return result;
    }

    /// <summary>
    /// Xen's get_lN_linear_pagetable: a read-only entry may map a table of its own level: itself (no
    /// reference), or another validated one, but a table holding such entries may not itself be
    /// mapped that way, so linear mappings never nest.
    /// </summary>
    private bool GetLinearReference(ulong entry, int level, ulong tableMfn, IPageTableOwner owner)
    {
        if ((entry & Pte.Writable) != 0)
            return false;
        ulong target = Pte.Mfn(entry);
        if (target == tableMfn)
            return true;
        ref PageInfo table = ref Memory.Page(tableMfn);
        if (table.LinearUses != 0 || table.LinearEntries == ushort.MaxValue)
            return false;
        if (!GetPage(target, owner))
            return false;
        ref PageInfo page = ref Memory.Page(target);
        if (page.LinearEntries != 0 || page.LinearUses == ushort.MaxValue || page.Type != PageTableRules.TableType(level)
            || !page.IsValidated || page.TypeCount == 0 || page.TypeCount == uint.MaxValue)
        {
            PutPage(target);
            return false;
        }
        page.TypeCount++;
        page.LinearUses++;
        table.LinearEntries++;
        return true;
    }

    /// <summary>put_page_from_lNe: the reverse of <see cref="GetEntryReferences"/>.</summary>
    private void PutEntryReferences(ulong entry, int level, ulong tableMfn, IPageTableOwner owner)
    {
        ulong target = Pte.Mfn(entry);
        if (level == 1)
        {
            // Only a grant mapping puts another owner's frame in an L1: its references are foreign ones.
            if (Memory.Page(target).Owner != owner.Id)
            {
                PutForeignReference(target, (entry & Pte.Writable) != 0);
                return;
            }
            if ((entry & Pte.Writable) != 0)
                PutPageType(target, owner);
            PutPage(target);
            return;
        }
        if (target == tableMfn)
            return;  // a self-mapping holds nothing
        ref PageInfo page = ref Memory.Page(target);
        if (page.Type == PageTableRules.TableType(level))
        {
            // A linear entry: a table of its own level.
            page.LinearUses--;
            Memory.Page(tableMfn).LinearEntries--;
        }
        PutPageAndType(target, owner);
    }
}
