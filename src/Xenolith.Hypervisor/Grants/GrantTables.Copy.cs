using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Grants;

// GNTTABOP_copy (Xen's gnttab_copy_one, acquire_grant_for_copy, release_grant_for_copy): each
// side is a grant of some domain, pinned only for the copy, or (DOMID_SELF only) a frame the
// caller owns; the frame is held by a reference for the copy, so the granter giving it back
// meanwhile cannot free it under the copy.
public sealed partial class GrantTables
{
    /// <summary>One side of a copy while it is held: the frame, and the grant pinned for it if any.</summary>
    private struct CopySide
    {
        public ulong Mfn;
        public bool Writable;
        public bool Referenced;
        public GrantTable? Table;
        public uint Ref;
    }

    /// <summary>Runs one gnttab_copy for <paramref name="caller"/>; returns its GNTST status.</summary>
    public short Copy(IGrantDomain caller, in GrantCopy op)
    {
        bool sourceIsGrant = (op.Flags & GrantCopyFlags.SourceGref) != 0;
        bool destIsGrant = (op.Flags & GrantCopyFlags.DestGref) != 0;
        lock (_lock)
        {
            // gnttab_copy_lock_domains: both domains first, then both buffers.
            short rc = ResolveCopyDomain(caller, op.Source.DomId, sourceIsGrant, out IGrantDomain? source);
            if (rc != GrantStatus.Okay)
                return rc;
            rc = ResolveCopyDomain(caller, op.Dest.DomId, destIsGrant, out IGrantDomain? destination);
            if (rc != GrantStatus.Okay)
                return rc;
            var src = new CopySide();
            var dst = new CopySide();
            rc = Claim(caller.Id, source!, op.Source, sourceIsGrant, writable: false, ref src);
            if (rc == GrantStatus.Okay)
                rc = Claim(caller.Id, destination!, op.Dest, destIsGrant, writable: true, ref dst);
            if (rc == GrantStatus.Okay)
            {
                if (op.Source.Offset + op.Length > MachineMemory.PageSize || op.Dest.Offset + op.Length > MachineMemory.PageSize)
                    rc = GrantStatus.BadCopyArg;
                else
                    Memory.Frame(src.Mfn).Slice(op.Source.Offset, op.Length).CopyTo(Memory.Frame(dst.Mfn).Slice(op.Dest.Offset, op.Length));
            }
            Release(ref dst);
            Release(ref src);
            return rc;
        }
    }

    /// <summary>
    /// gnttab_copy_lock_domain: a frame (not a grant) may only be named with DOMID_SELF
    /// (GNTST_permission_denied otherwise, even with the caller's own id); the domain must exist.
    /// </summary>
    private short ResolveCopyDomain(IGrantDomain caller, ushort domid, bool isGrant, out IGrantDomain? domain)
    {
        domain = null;
        if (domid != DomainIds.Self && !isGrant)
            return GrantStatus.PermissionDenied;
        domain = domid == DomainIds.Self || domid == caller.Id ? caller : FindLiveDomain(domid);
        return domain is null ? GrantStatus.BadDomain : GrantStatus.Okay;
    }

    /// <summary>gnttab_copy_claim_buf: pins the grant (or checks the caller's frame) and takes the copy's reference.</summary>
    private short Claim(ushort caller, IGrantDomain domain, in GrantCopyPointer pointer, bool isGrant, bool writable, ref CopySide side)
    {
        side.Writable = writable;
        ulong mfn;
        if (isGrant)
        {
            if (EnsureTable(domain) is not { } table)
                return GrantStatus.BadDomain;
            short rc = Pin(table, pointer.Ref, caller, readOnly: !writable, mapping: false,
                writable ? GrantPin.HostWrite : GrantPin.HostRead, out mfn);
            if (rc != GrantStatus.Okay)
                return rc;
            side.Table = table;
            side.Ref = pointer.Ref;
        }
        else
        {
            // A PV caller's gmfn is a machine frame, which must be its own (get_paged_frame).
            mfn = pointer.Gmfn;
        }
        side.Mfn = mfn;
        int reference;
        lock (Memory.SyncRoot)
            reference = Memory.IsValidFrame(mfn) ? PageTypes.GetForeignReference(mfn, domain.Id, writable) : -XenErrno.EINVAL;
        if (reference == -XenErrno.EBUSY)
            return GrantStatus.GeneralError;   // "Could not get writable frame"
        if (reference != 0)
            return GrantStatus.BadPage;
        side.Referenced = true;
        return GrantStatus.Okay;
    }

    /// <summary>gnttab_copy_release_buf: the reference, then the pin (and the status bits it alone kept).</summary>
    private void Release(ref CopySide side)
    {
        if (side.Referenced)
        {
            lock (Memory.SyncRoot)
                PageTypes.PutForeignReference(side.Mfn, side.Writable);
        }
        if (side.Table is { } table)
            Unpin(table, side.Ref, side.Writable ? GrantPin.HostWrite : GrantPin.HostRead, readOnly: !side.Writable);
        side = default;
    }
}
