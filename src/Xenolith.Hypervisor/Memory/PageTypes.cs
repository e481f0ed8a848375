using System.Runtime.InteropServices;
using Xenolith.Abi;

namespace Xenolith.Hypervisor.Memory;

/// <summary>
/// Xen's page type and reference-count state machine (get_page, get_page_type and friends in
/// xen/arch/x86/mm.c) over <see cref="MachineMemory"/>'s frames, with page-table validation: a
/// frame becomes an Ln table only when every entry in it has been checked and has taken its
/// references, and stops being one (dropping them) when its last type reference goes. The
/// invariants the rest of the hypervisor relies on:
/// <list type="bullet">
/// <item>no frame is at once a page table and mapped writable (both are counted types);</item>
/// <item>a present entry of a validated table references only frames its domain owns, of the
/// right type, and never the hypervisor's L4 slots;</item>
/// <item>no count goes below zero, and a frame returns to the pool only unreferenced.</item>
/// </list>
/// Every method expects the caller to hold <see cref="MachineMemory.SyncRoot"/>; results are 0 or
/// a negative Xen errno, as the hypercalls return them.
/// </summary>
public sealed partial class PageTypes(MachineMemory memory)
{
    public MachineMemory Memory { get; } = memory;

    /// <summary>get_page: a general reference to a frame <paramref name="owner"/> owns.</summary>
    public bool GetPage(ulong mfn, IPageTableOwner owner)
    {
        if (!CanGetPage(mfn, owner))
            return false;
        Memory.Page(mfn).RefCount++;
        return true;
    }

    /// <summary>Whether <see cref="GetPage"/> would succeed: the frame is <paramref name="owner"/>'s, in use, and its count can grow.</summary>
    private bool CanGetPage(ulong mfn, IPageTableOwner owner)
    {
        if (!Memory.IsValidFrame(mfn))
            return false;
        ref PageInfo page = ref Memory.Page(mfn);
        return page.Owner == owner.Id && page.RefCount != 0 && page.RefCount != uint.MaxValue;
    }

    /// <summary>put_page: drops a general reference; the last one returns the frame to the pool.</summary>
    public void PutPage(ulong mfn)
    {
        ref PageInfo page = ref Memory.Page(mfn);
        if (page.RefCount == 0)
            throw new InvalidOperationException($"mfn {mfn:x}: general reference count below zero");
        if (--page.RefCount == 0)
        {
            if (page.TypeCount != 0)
                throw new InvalidOperationException($"mfn {mfn:x}: freed with {page.TypeCount} type references");
            Memory.Release(mfn);
        }
    }

    /// <summary>
    /// get_page_type: a reference to the frame as <paramref name="type"/>. A frame with no type
    /// references takes the new type (a page-table type is then validated); one in use as another
    /// type refuses with -EINVAL.
    /// </summary>
    public int GetPageType(ulong mfn, FrameType type, IPageTableOwner owner)
    {
        ref PageInfo page = ref Memory.Page(mfn);
        if (page.TypeCount == 0 && page.Type != FrameType.SegmentDescriptors)
        {
            if (page.Type != type)
            {
                page.Type = type;
                page.Flags &= ~PageFlags.Validated;
            }
        }
        else if (page.Type != type)
        {
            return -XenErrno.EINVAL;
        }
        if (page.TypeCount == uint.MaxValue)
            return -XenErrno.EINVAL;
        page.TypeCount++;
        int level = PageTableRules.LevelOf(type);
        if (level == 0 || page.IsValidated)
            return 0;
        int rc = ValidateTable(mfn, level, owner);
        ref PageInfo after = ref Memory.Page(mfn);
        if (rc != 0)
        {
            after.TypeCount--;
            return rc;
        }
        after.Flags |= PageFlags.Validated;
        return 0;
    }

    /// <summary>put_page_type: the last reference to a page table devalidates it, dropping what its entries hold.</summary>
    public void PutPageType(ulong mfn, IPageTableOwner owner)
    {
        ref PageInfo page = ref Memory.Page(mfn);
        if (page.TypeCount == 0)
            throw new InvalidOperationException($"mfn {mfn:x}: type reference count below zero");
        if (--page.TypeCount != 0)
            return;
        int level = PageTableRules.LevelOf(page.Type);
        if (level != 0 && page.IsValidated)
        {
            page.Flags &= ~PageFlags.Validated;
            DevalidateTable(mfn, level, owner);
            owner.QueueShadowDrop(mfn);
        }
    }

    public int GetPageAndType(ulong mfn, FrameType type, IPageTableOwner owner)
    {
        if (!GetPage(mfn, owner))
            return -XenErrno.EINVAL;
        int rc = GetPageType(mfn, type, owner);
        if (rc != 0)
            PutPage(mfn);
        return rc;
    }

    public void PutPageAndType(ulong mfn, IPageTableOwner owner)
    {
        PutPageType(mfn, owner);
        PutPage(mfn);
    }

    /// <summary>MMUEXT_PIN_L*_TABLE: validate as <paramref name="type"/> and hold it until unpinned.</summary>
    public int Pin(ulong mfn, FrameType type, IPageTableOwner owner)
    {
        int rc = GetPageAndType(mfn, type, owner);
        if (rc != 0)
            return rc;
        ref PageInfo page = ref Memory.Page(mfn);
        if (page.IsPinned)
        {
            PutPageAndType(mfn, owner);
            return -XenErrno.EINVAL;
        }
        page.Flags |= PageFlags.Pinned;
        return 0;
    }

    /// <summary>MMUEXT_UNPIN_TABLE.</summary>
    public int Unpin(ulong mfn, IPageTableOwner owner)
    {
        if (!Memory.IsValidFrame(mfn) || Memory.Page(mfn).Owner != owner.Id)
            return -XenErrno.EINVAL;
        ref PageInfo page = ref Memory.Page(mfn);
        if (!page.IsPinned || !page.IsPageTable)
            return -XenErrno.EINVAL;
        page.Flags &= ~PageFlags.Pinned;
        PutPageAndType(mfn, owner);
        return 0;
    }

    /// <summary>
    /// The owner gives the frame up (decrease_reservation): its allocation reference goes, and the
    /// frame returns to the pool once nothing maps or pins it any more.
    /// </summary>
    public int ReleaseAllocation(ulong mfn, IPageTableOwner owner)
    {
        if (!Memory.IsValidFrame(mfn))
            return -XenErrno.EINVAL;
        ref PageInfo page = ref Memory.Page(mfn);
        if (page.Owner != owner.Id || !page.IsAllocated)
            return -XenErrno.EINVAL;
        if (page.IsPinned)
        {
            page.Flags &= ~PageFlags.Pinned;
            PutPageAndType(mfn, owner);
        }
        ref PageInfo after = ref Memory.Page(mfn);
        if (after.Owner == owner.Id && after.IsAllocated)
        {
            after.Flags &= ~PageFlags.Allocated;
            PutPage(mfn);
        }
        return 0;
    }

    internal Span<ulong> Entries(ulong mfn) => MemoryMarshal.Cast<byte, ulong>(Memory.Frame(mfn));
}
