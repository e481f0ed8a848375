using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Grants;

// GNTTABOP_map_grant_ref, unmap_grant_ref and unmap_and_replace for PV mappers (Xen's
// map_grant_ref, unmap_common, create_grant_pv_mapping and replace_grant_pv_mapping).
// A host mapping's frame reference is held by the PTE itself (released by whoever clears the
// entry: an unmap, a guest overwrite, the table's devalidation, the mapper's death); a device
// mapping's by the maptrack entry.
public sealed partial class GrantTables
{
    /// <summary>_PAGE_AVAIL: the three PTE bits GNTMAP_guest_avail* lands in.</summary>
    private const ulong PteAvailableBits = 0xe00;

    /// <summary>
    /// Maps <paramref name="op"/>.Ref of domain <paramref name="op"/>.Dom for <paramref name="mapper"/>,
    /// whose current page-table base is <paramref name="pageTableBase"/>. Sets op.Status, and on
    /// success op.Handle and op.DevBusAddr (the frame's machine address), as Xen writes them back.
    /// </summary>
    public void Map(IGrantDomain mapper, ulong pageTableBase, ref GrantMapGrantRef op)
    {
        lock (_lock)
            op.Status = MapLocked(mapper, pageTableBase, ref op);
    }

    private short MapLocked(IGrantDomain mapper, ulong pageTableBase, ref GrantMapGrantRef op)
    {
        if ((op.Flags & (GrantMapFlags.DeviceMap | GrantMapFlags.HostMap)) == 0)
            return GrantStatus.BadGntref;
        if (FindLiveDomain(op.Dom) is not { } granter)
            return GrantStatus.BadDomain;
        Maptrack maptrack = mapper.Grants.Maptrack;
        if (!maptrack.TryAllocate(mapper.Grants.MaxMaptrackHandles, out uint handle))
            return GrantStatus.NoDeviceSpace;
        short rc = MapWithHandle(mapper, granter, pageTableBase, ref op, handle);
        if (rc != GrantStatus.Okay)
            maptrack.Free(handle);
        return rc;
    }

    private short MapWithHandle(IGrantDomain mapper, IGrantDomain granter, ulong pageTableBase, ref GrantMapGrantRef op, uint handle)
    {
        if (EnsureTable(granter) is not { } table)
            return GrantStatus.GeneralError;
        uint flags = op.Flags;
        bool readOnly = (flags & GrantMapFlags.ReadOnly) != 0;
        short rc = Pin(table, op.Ref, mapper.Id, readOnly, mapping: true, GrantPin.ForMapFlags(flags), out ulong mfn);
        if (rc != GrantStatus.Okay)
            return rc;
        lock (Memory.SyncRoot)
            rc = TakeMappingReferences(mapper, granter.Id, pageTableBase, op.HostAddr, flags, mfn);
        if (rc != GrantStatus.Okay)
        {
            Unpin(table, op.Ref, GrantPin.ForMapFlags(flags), readOnly);
            return rc;
        }
        mapper.Grants.Maptrack.Entry(handle) = new MaptrackEntry { Flags = flags, Ref = op.Ref, Table = table, Mfn = mfn };
        op.Handle = handle;
        op.DevBusAddr = mfn << MachineMemory.PageShift;
        return GrantStatus.Okay;
    }

    /// <summary>
    /// The first half of map_grant_ref and acquire_grant_for_copy: bounds, the active entry's
    /// owner and overflow checks, the shared entry's status bits when this use needs more than the
    /// pin already gives, the frame on the first pin (which must be the granter's:
    /// GNTST_bad_page), then <paramref name="pin"/> added. On failure nothing is left changed
    /// but the status bits Xen leaves too (none it set).
    /// </summary>
    private short Pin(GrantTable table, uint gref, ushort grantee, bool readOnly, bool mapping, uint pin, out ulong mfn)
    {
        mfn = 0;
        if (gref >= table.EntryCount)
            return GrantStatus.BadGntref;
        ref ActiveGrant active = ref table.Active(gref);
        if (active.Pin != 0 && (active.DomId != grantee || (active.Pin & GrantPin.OverflowRisk) != 0))
            return GrantStatus.GeneralError;
        if (active.Pin == 0 || (!readOnly && (active.Pin & GrantPin.WriteMask) == 0))
        {
            short rc = table.SetStatus(gref, active.Pin != 0, readOnly, mapping, grantee);
            if (rc != GrantStatus.Okay)
                return rc;
            if (active.Pin == 0)
            {
                ulong frame = table.GrantedFrame(gref);
                if (!IsLiveFrameOf(frame, table.Owner))
                {
                    table.ClearStatusForPin(gref, readOnly);
                    return GrantStatus.BadPage;
                }
                active.DomId = grantee;
                active.Mfn = frame;
            }
        }
        else if (!mapping && !IsLiveFrameOf(active.Mfn, table.Owner))
        {
            // A copy of an entry pinned earlier whose frame has left its owner (Xen's td != rd case).
            table.ClearStatusForPin(gref, readOnly);
            return GrantStatus.BadDomain;
        }
        active.Pin += pin;
        mfn = active.Mfn;
        return GrantStatus.Okay;
    }

    /// <summary>The reverse of <see cref="Pin"/>: the pin goes, then the status bits nothing needs any more.</summary>
    private static void Unpin(GrantTable table, uint gref, uint pin, bool readOnly)
    {
        if (table.IsTornDown)
            return;
        table.Active(gref).Pin -= pin;
        table.ClearStatusForPin(gref, readOnly);
    }

    /// <summary>get_page_from_mfn(frame, owner) without the reference: a frame in use by <paramref name="owner"/>, its owner alive.</summary>
    private bool IsLiveFrameOf(ulong mfn, ushort owner)
    {
        lock (Memory.SyncRoot)
        {
            if (!Memory.IsValidFrame(mfn))
                return false;
            ref PageInfo page = ref Memory.Page(mfn);
            return page.Owner == owner && page.RefCount != 0 && (page.Flags & PageFlags.Orphaned) == 0;
        }
    }

    /// <summary>
    /// The device mapping's reference (held by the maptrack entry), then the host mapping's PTE
    /// (holding its own). Any refusal is GNTST_general_error, Xen's code for a frame it could not
    /// pin and for a host address with no L1 behind it. Caller holds SyncRoot.
    /// </summary>
    private short TakeMappingReferences(IGrantDomain mapper, ushort granter, ulong pageTableBase, ulong hostAddr, uint flags, ulong mfn)
    {
        bool writable = (flags & GrantMapFlags.ReadOnly) == 0;
        bool device = (flags & GrantMapFlags.DeviceMap) != 0;
        if (device && PageTypes.GetForeignReference(mfn, granter, writable) != 0)
            return GrantStatus.GeneralError;
        if ((flags & GrantMapFlags.HostMap) != 0)
        {
            short rc = CreateHostMapping(mapper, granter, pageTableBase, hostAddr, flags, mfn);
            if (rc != GrantStatus.Okay)
            {
                if (device)
                    PageTypes.PutForeignReference(mfn, writable);
                return rc;
            }
        }
        return GrantStatus.Okay;
    }

    /// <summary>
    /// create_grant_pv_mapping: finds the L1 entry (by virtual address in the mapper's current
    /// tables, or, with GNTMAP_contains_pte, by the entry's machine address in one of its live
    /// L1s), takes the references the grant PTE will hold, writes it, and drops whatever the
    /// replaced entry held. Caller holds SyncRoot.
    /// </summary>
    private short CreateHostMapping(IGrantDomain mapper, ushort granter, ulong pageTableBase, ulong hostAddr, uint flags, ulong mfn)
    {
        if (!TryLocateEntry(mapper, pageTableBase, hostAddr, flags, out ulong l1, out int index))
            return GrantStatus.GeneralError;
        if (PageTypes.GetGrantEntryReferences(mfn, granter, (flags & GrantMapFlags.ReadOnly) == 0, mapper) != 0)
            return GrantStatus.GeneralError;
        ulong old = PageTypes.ExchangeL1Entry(l1, index, GrantPte(mfn, flags), mapper);
        PageTypes.PutL1EntryReferences(old, l1, mapper);
        return GrantStatus.Okay;
    }

    private bool TryLocateEntry(IGrantDomain mapper, ulong pageTableBase, ulong hostAddr, uint flags, out ulong l1, out int index)
    {
        if ((flags & GrantMapFlags.ContainsPte) != 0)
        {
            // The address must be entry-aligned, or the write would straddle two entries.
            l1 = hostAddr >> MachineMemory.PageShift;
            index = (int)((hostAddr & (MachineMemory.PageSize - 1)) / sizeof(ulong));
            return hostAddr % sizeof(ulong) == 0 && PageTypes.IsLiveL1(l1, mapper);
        }
        index = Pte.Index(hostAddr, 1);
        return PageTypes.TryFindL1(pageTableBase, hostAddr, mapper, out l1);
    }

    /// <summary>
    /// grant_to_pte_flags + adjust_guest_l1e: present, accessed, dirty, never executable; writable
    /// unless GNTMAP_readonly; user-accessible with GNTMAP_application_map; the guest's available
    /// bits; then adjusted like any 64-bit PV L1 entry.
    /// </summary>
    public static ulong GrantPte(ulong mfn, uint flags)
    {
        ulong pte = Pte.Make(mfn, Pte.Present | Pte.Accessed | Pte.Dirty | Pte.NoExecute);
        if ((flags & GrantMapFlags.ApplicationMap) != 0)
            pte |= Pte.User;
        if ((flags & GrantMapFlags.ReadOnly) == 0)
            pte |= Pte.Writable;
        pte |= ((ulong)(flags >> GrantMapFlags.GuestAvailShift) << 9) & PteAvailableBits;
        return PageTableRules.Adjust(pte, 1);
    }

    /// <summary>
    /// GNTTABOP_unmap_grant_ref (<paramref name="newAddr"/> 0) and unmap_and_replace: releases the
    /// parts of mapping <paramref name="handle"/> that the non-zero addresses name. The host part
    /// only if the PTE still maps the granted frame with the mapping's access (else
    /// GNTST_general_error, and nothing changes); with a replacement, the PTE at
    /// <paramref name="newAddr"/> moves into it. The handle is freed once no part is left.
    /// </summary>
    public short Unmap(IGrantDomain mapper, ulong pageTableBase, uint handle, ulong hostAddr, ulong devBusAddr, ulong newAddr = 0)
    {
        lock (_lock)
        {
            Maptrack maptrack = mapper.Grants.Maptrack;
            if (!maptrack.IsLive(handle))
                return GrantStatus.BadHandle;
            ref MaptrackEntry map = ref maptrack.Entry(handle);
            uint flags = map.Flags;
            bool readOnly = (flags & GrantMapFlags.ReadOnly) != 0;
            if (devBusAddr != 0 && devBusAddr != map.Mfn << MachineMemory.PageShift)
                return GrantStatus.GeneralError;
            uint released = 0;
            lock (Memory.SyncRoot)
            {
                if (hostAddr != 0 && (flags & GrantMapFlags.HostMap) != 0)
                {
                    short rc = ReplaceHostMapping(mapper, pageTableBase, hostAddr, map.Mfn, newAddr, flags);
                    if (rc != GrantStatus.Okay)
                        return rc;
                    released |= GrantMapFlags.HostMap;
                }
                if (devBusAddr != 0 && (flags & GrantMapFlags.DeviceMap) != 0)
                {
                    PageTypes.PutForeignReference(map.Mfn, writable: !readOnly);
                    released |= GrantMapFlags.DeviceMap;
                }
            }
            if (released == 0)
                return GrantStatus.Okay;
            GrantTable table = map.Table!;
            uint gref = map.Ref;
            map.Flags &= ~released;
            if ((map.Flags & (GrantMapFlags.HostMap | GrantMapFlags.DeviceMap)) == 0)
                maptrack.Free(handle);
            Unpin(table, gref, GrantPin.ForMapFlags(released | (flags & GrantMapFlags.ReadOnly)), readOnly);
            return GrantStatus.Okay;
        }
    }

    /// <summary>
    /// replace_grant_pv_mapping (and steal_linear_address for a replacement). Caller holds SyncRoot.
    /// </summary>
    private short ReplaceHostMapping(IGrantDomain mapper, ulong pageTableBase, ulong hostAddr, ulong mfn, ulong newAddr, uint flags)
    {
        ulong replacement = 0, replacementL1 = 0;
        if (newAddr != 0)
        {
            // Only a virtual-address mapping can be replaced (Xen: "not available in this addressing mode").
            if ((flags & GrantMapFlags.ContainsPte) != 0 || !PageTypes.TryFindL1(pageTableBase, newAddr, mapper, out replacementL1))
                return GrantStatus.GeneralError;
            replacement = PageTypes.ExchangeL1Entry(replacementL1, Pte.Index(newAddr, 1), 0, mapper);
        }
        if (!TryLocateEntry(mapper, pageTableBase, hostAddr, flags, out ulong l1, out int index)
            || !MapsGrant(PageTypes.Entries(l1)[index], mfn, writable: (flags & GrantMapFlags.ReadOnly) == 0))
        {
            // We still hold what we stole; it goes, as on Xen.
            PageTypes.PutL1EntryReferences(replacement, replacementL1, mapper);
            return GrantStatus.GeneralError;
        }
        ulong old = PageTypes.ExchangeL1Entry(l1, index, replacement, mapper);
        PageTypes.PutL1EntryReferences(old, l1, mapper);
        return GrantStatus.Okay;
    }

    /// <summary>Xen's unmap check: the entry maps the granted frame, present, with the mapping's write access.</summary>
    private static bool MapsGrant(ulong entry, ulong mfn, bool writable) =>
        (entry & Pte.Present) != 0 && Pte.Mfn(entry) == mfn && ((entry & Pte.Writable) != 0) == writable;
}
