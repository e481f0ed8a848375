using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Grants;

/// <summary>
/// Grant tables v1 for every domain (Xen's xen/common/grant_table.c with the PV parts of
/// xen/arch/x86/pv/grant_table.c): the per-op semantics of grant_table_op, the in-process API
/// Domain0's backends use (<see cref="MapForDomain0"/>, <see cref="CopyFromGrant"/>,
/// <see cref="CopyToGrant"/>), and what happens when a granter or a mapper dies.
/// <para>
/// Lock order: this service's one lock (all domains' tables, active entries and maptracks), then
/// <see cref="MachineMemory.SyncRoot"/> (every reference count and page-table write). Nothing
/// holding SyncRoot calls in here. Xen has a lock per table, per active entry and per maptrack;
/// grant operations here are short and few domains run at once, so one lock keeps every
/// cross-domain path (map, copy, either side's death) free of lock-ordering cases.
/// </para>
/// Operations return GNTST_* codes (or a negative errno where Xen's op has no status field); they
/// never throw on guest data.
/// </summary>
public sealed partial class GrantTables(MachineMemory memory, PageTypes types, Func<ushort, IGrantDomain?> findDomain)
{
    private readonly Lock _lock = new();

    public MachineMemory Memory { get; } = memory;
    public PageTypes PageTypes { get; } = types;

    /// <summary>The table <paramref name="domain"/> grants from, as it is now (null before anything used it).</summary>
    public GrantTable? TableOf(IGrantDomain domain)
    {
        lock (_lock)
            return domain.Grants.Table;
    }

    /// <summary>A domain by id as rcu_lock_domain_by_id finds it (no DOMID_SELF), and not dying: a dying domain's grants are going away.</summary>
    private IGrantDomain? FindLiveDomain(ushort id) => findDomain(id) is { IsDying: false } domain ? domain : null;

    /// <summary>
    /// The domain's table, created with Xen's initial frame the first time it is needed (Xen makes
    /// it with the domain); null for a dying domain or when no frame can be had.
    /// </summary>
    private GrantTable? EnsureTable(IGrantDomain domain)
    {
        if (domain.Grants.Table is { } table)
            return table;
        if (domain.IsDying)
            return null;
        // Installed before it has frames, so memory_op sees each frame as the table's as soon as it exists.
        domain.Grants.Table = table = new GrantTable(Memory, domain.Id);
        if (table.TryGrow(DomainGrants.InitialGrantFrames, PageTypes))
            return table;
        domain.Grants.Table = null;
        return null;
    }

    /// <summary>
    /// xc_dom_gnttab_seed: before the domain runs, the toolstack grants its console and xenstore
    /// pages (for a PV domain, their MFNs) to the domains serving them, in the reserved entries
    /// GNTTAB_RESERVED_CONSOLE and GNTTAB_RESERVED_XENSTORE, so a backend may map them by reference.
    /// </summary>
    public void SeedReservedEntries(IGrantDomain domain, ushort consoleDomain, ulong consoleFrame, ushort xenstoreDomain, ulong xenstoreFrame)
    {
        lock (_lock)
        {
            GrantTable table = EnsureTable(domain) ?? throw new InvalidOperationException($"domain {domain.Id} has no grant table");
            table.WriteEntry(GrantTableLayout.ReservedConsole,
                new GrantEntryV1 { Flags = GrantEntryFlags.PermitAccess, DomId = consoleDomain, Frame = checked((uint)consoleFrame) });
            table.WriteEntry(GrantTableLayout.ReservedXenstore,
                new GrantEntryV1 { Flags = GrantEntryFlags.PermitAccess, DomId = xenstoreDomain, Frame = checked((uint)xenstoreFrame) });
        }
    }

    /// <summary>
    /// rcu_lock_domain_by_any_id then Xen's XSM_TARGET check for an unprivileged caller: DOMID_SELF
    /// or the caller's own id is the caller; any other existing domain is GNTST_permission_denied
    /// (no guest here is privileged), a missing one GNTST_bad_domain.
    /// </summary>
    private short ResolveSelf(IGrantDomain caller, ushort dom, out IGrantDomain target)
    {
        target = caller;
        if (dom == DomainIds.Self || dom == caller.Id)
            return GrantStatus.Okay;
        return findDomain(dom) is null ? GrantStatus.BadDomain : GrantStatus.PermissionDenied;
    }

    /// <summary>
    /// GNTTABOP_setup_table: grows the table to at least <paramref name="frameCount"/> frames (up to
    /// the domain's <see cref="DomainGrants.MaxGrantFrames"/>, else GNTST_general_error) and returns the
    /// first <paramref name="frameCount"/> MFNs, which a PV guest maps.
    /// </summary>
    public short SetupTable(IGrantDomain caller, ushort dom, uint frameCount, out ulong[] frames)
    {
        frames = [];
        lock (_lock)
        {
            short rc = ResolveSelf(caller, dom, out IGrantDomain target);
            if (rc != GrantStatus.Okay)
                return rc;
            if (frameCount > (uint)target.Grants.MaxGrantFrames)
                return GrantStatus.GeneralError;
            if (EnsureTable(target) is not { } table || !table.TryGrow((int)frameCount, PageTypes))
                return GrantStatus.GeneralError;
            frames = [.. table.Frames.Take((int)frameCount)];
            return GrantStatus.Okay;
        }
    }

    /// <summary>GNTTABOP_query_size: the table's current and maximum frame counts.</summary>
    public short QuerySize(IGrantDomain caller, ushort dom, out uint frames, out uint maxFrames)
    {
        frames = maxFrames = 0;
        lock (_lock)
        {
            short rc = ResolveSelf(caller, dom, out IGrantDomain target);
            if (rc != GrantStatus.Okay)
                return rc;
            if (EnsureTable(target) is not { } table)
                return GrantStatus.GeneralError;
            frames = (uint)table.FrameCount;
            maxFrames = (uint)target.Grants.MaxGrantFrames;
            return GrantStatus.Okay;
        }
    }

    /// <summary>
    /// GNTTABOP_get_status_frames: a v1 table has no status frames, so asking for any is
    /// GNTST_general_error and asking for none succeeds, as on Xen.
    /// </summary>
    public short GetStatusFrames(IGrantDomain caller, ushort dom, uint frameCount)
    {
        short rc = ResolveSelf(caller, dom, out _);
        if (rc != GrantStatus.Okay)
            return rc;
        return frameCount > 0 ? GrantStatus.GeneralError : GrantStatus.Okay;
    }

    /// <summary>GNTTABOP_get_version: 0 and the version, or -ESRCH (no such domain) / -EPERM (another domain's).</summary>
    public int GetVersion(IGrantDomain caller, ushort dom, out uint version)
    {
        version = 0;
        short rc = ResolveSelf(caller, dom, out _);
        if (rc == GrantStatus.BadDomain)
            return -XenErrno.ESRCH;
        if (rc != GrantStatus.Okay)
            return -XenErrno.EPERM;
        version = 1;
        return 0;
    }

    /// <summary>
    /// GNTTABOP_set_version: 1 is what every table already is; 2 gets -ENOSYS, what a Xen without v2
    /// (gnttab=max-ver:1) answers; anything else -EINVAL. <paramref name="version"/> is the version
    /// in force afterwards, which Xen writes back even on failure.
    /// </summary>
    public static int SetVersion(uint requested, out uint version)
    {
        version = 1;
        return requested switch
        {
            1 => 0,
            2 => -XenErrno.ENOSYS,
            _ => -XenErrno.EINVAL,
        };
    }

    /// <summary>GNTTABOP_swap_grant_ref: swaps two of the caller's own entries unless either is pinned (GNTST_eagain).</summary>
    public short Swap(IGrantDomain caller, uint refA, uint refB)
    {
        lock (_lock)
        {
            if (EnsureTable(caller) is not { } table)
                return GrantStatus.GeneralError;
            if (refA >= table.EntryCount || refB >= table.EntryCount)
                return GrantStatus.BadGntref;
            if (refA == refB)
                return GrantStatus.Okay;
            if (table.Active(refA).Pin != 0 || table.Active(refB).Pin != 0)
                return GrantStatus.EAgain;
            table.SwapEntries(refA, refB);
            return GrantStatus.Okay;
        }
    }

    /// <summary>
    /// GNTTABOP_cache_flush as x86 Xen 4.19 does it (memory is coherent, so nothing is flushed):
    /// checks the range and op, requires the frame (by its device bus address) to be the caller's or
    /// a grant it has pinned, then CLEAN (alone or with INVAL) succeeds and INVAL alone is
    /// -EOPNOTSUPP. Returns 0 or a negative errno, which ends the whole batch as on Xen.
    /// <paramref name="firstRef"/> is the opaque continuation argument: the grant reference the
    /// search resumes from.
    /// </summary>
    public int CacheFlush(IGrantDomain caller, in GrantCacheFlush op, uint firstRef)
    {
        if (op.Offset >= MachineMemory.PageSize || op.Length > MachineMemory.PageSize
            || op.Offset + op.Length > MachineMemory.PageSize
            || (op.Op & ~(GrantCacheFlushOp.Invalidate | GrantCacheFlushOp.Clean)) != 0)
            return -XenErrno.EINVAL;
        if (op.Length == 0 || op.Op == 0)
            return firstRef == 0 ? 0 : -XenErrno.EILSEQ;
        ulong mfn = op.DevBusAddr >> MachineMemory.PageShift;
        lock (_lock)
        {
            ushort owner;
            lock (Memory.SyncRoot)
            {
                if (!Memory.IsValidFrame(mfn))
                    return -XenErrno.EINVAL;
                ref PageInfo page = ref Memory.Page(mfn);
                owner = page.RefCount != 0 ? page.Owner : DomainIds.Invalid;
            }
            if (owner != caller.Id)
            {
                if (FindLiveDomain(owner)?.Grants.Table is not { } table)
                    return -XenErrno.EPERM;
                bool pinnedByCaller = false;
                for (uint gref = firstRef; gref < table.EntryCount && !pinnedByCaller; gref++)
                {
                    ref ActiveGrant active = ref table.Active(gref);
                    pinnedByCaller = active.Pin != 0 && active.DomId == caller.Id && active.Mfn == mfn;
                }
                if (!pinnedByCaller)
                    return -XenErrno.EINVAL;
            }
        }
        return (op.Op & GrantCacheFlushOp.Clean) != 0 ? 0 : -XenErrno.EOPNOTSUPP;
    }
}
