using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Grants;

/// <summary>
/// One domain's v1 grant table (Xen's struct grant_table): the shared frames the guest writes its
/// grant entries into (8 bytes each, 512 per frame) and the hypervisor's active entry for each.
/// The shared frames are the domain's own, so a PV guest maps them writable by their MFN; the
/// table holds a writable foreign reference on each (Xen's share_xen_page_with_guest keeps a
/// writable type on them), so none can become a page table or be freed while the table exists.
/// Every method runs under <see cref="GrantTables"/>' lock.
/// </summary>
public sealed class GrantTable
{
    /// <summary>Xen bounds its cmpxchg retries on the shared entry: a guest rewriting it faster than the hypervisor can update it must not livelock the hypervisor.</summary>
    private const int MaxStatusRetries = 4;

    private readonly MachineMemory _memory;
    private ulong[] _frames = [];
    private ActiveGrant[] _active = [];

    internal GrantTable(MachineMemory memory, ushort owner)
    {
        _memory = memory;
        Owner = owner;
    }

    public ushort Owner { get; }

    /// <summary>Only version 1 exists here (set_version 2 is refused as by a Xen built without v2).</summary>
    public int Version => 1;

    /// <summary>The shared frames in order (their MFNs are what setup_table returns to a PV guest).</summary>
    public IReadOnlyList<ulong> Frames => _frames;

    public int FrameCount => _frames.Length;

    public uint EntryCount => (uint)_frames.Length * GrantTableLayout.EntriesPerFrameV1;

    /// <summary>The owner died: no entry is used any more, and mappings that outlive it skip their pin bookkeeping.</summary>
    public bool IsTornDown { get; private set; }

    internal bool IsFrame(ulong mfn) => Array.IndexOf(Volatile.Read(ref _frames), mfn) >= 0;

    internal ref ActiveGrant Active(uint gref) => ref _active[gref];

    /// <summary>
    /// gnttab_grow_table: adds zero frames owned by the table's domain until it has
    /// <paramref name="frames"/>, all or none. Allocation, the table's references and the new frame
    /// list are made under SyncRoot, so memory_op never sees a table frame it could give back.
    /// </summary>
    internal bool TryGrow(int frames, PageTypes types)
    {
        if (frames <= _frames.Length)
            return true;
        lock (_memory.SyncRoot)
        {
            ulong[] added;
            try
            {
                added = _memory.Allocate(Owner, (ulong)(frames - _frames.Length));
            }
            catch (OutOfMachineMemoryException)
            {
                return false;
            }
            foreach (ulong mfn in added)
            {
                if (types.GetForeignReference(mfn, Owner, writable: true) != 0)
                    throw new InvalidOperationException($"a new grant-table frame {mfn:x} refused the table's reference");
            }
            Array.Resize(ref _active, frames * GrantTableLayout.EntriesPerFrameV1);
            Volatile.Write(ref _frames, [.. _frames, .. added]);
        }
        return true;
    }

    /// <summary>grant_table_destroy: drops the table's references (the frames go with the domain's memory) and forgets every pin.</summary>
    internal void TearDown(PageTypes types)
    {
        lock (_memory.SyncRoot)
        {
            foreach (ulong mfn in _frames)
                types.PutForeignReference(mfn, writable: true);
            IsTornDown = true;
            Volatile.Write(ref _frames, []);
            _active = [];
        }
    }

    private ulong EntryAddress(uint gref) =>
        (_frames[gref / GrantTableLayout.EntriesPerFrameV1] << MachineMemory.PageShift)
        + gref % GrantTableLayout.EntriesPerFrameV1 * GrantTableLayout.EntryV1Size;

    /// <summary>flags and domid as the one 32-bit word Xen compares and exchanges (flags in the low half).</summary>
    private ref uint Header(uint gref) => ref _memory.Block.GetRef<uint>(EntryAddress(gref));

    /// <summary>The entry's frame field, as the guest last wrote it.</summary>
    internal uint GrantedFrame(uint gref) => Volatile.Read(ref _memory.Block.GetRef<uint>(EntryAddress(gref) + 4));

    /// <summary>The entry as it is now, flags included (for tests and the backend API's callers).</summary>
    public GrantEntryV1 ReadEntry(uint gref)
    {
        uint header = Volatile.Read(ref Header(gref));
        return new GrantEntryV1 { Flags = (ushort)header, DomId = (ushort)(header >> 16), Frame = GrantedFrame(gref) };
    }

    /// <summary>
    /// Writes a whole entry as the granter would: frame first, then flags and domid in one store,
    /// so a reader never sees GTF_permit_access with a stale frame.
    /// </summary>
    internal void WriteEntry(uint gref, GrantEntryV1 entry)
    {
        Volatile.Write(ref _memory.Block.GetRef<uint>(EntryAddress(gref) + 4), entry.Frame);
        Volatile.Write(ref Header(gref), entry.Flags | (uint)entry.DomId << 16);
    }

    /// <summary>
    /// _set_status_v1: marks the shared entry GTF_reading (and GTF_writing unless
    /// <paramref name="readOnly"/>) with a compare-exchange on flags+domid, since the granting guest
    /// edits the same word concurrently. An entry not yet pinned must be a permit_access grant to
    /// <paramref name="grantee"/> (not a sub-page one, for a mapping); a writable use of a
    /// GTF_readonly grant is refused. Every refusal is GNTST_general_error, as in Xen.
    /// </summary>
    internal short SetStatus(uint gref, bool alreadyPinned, bool readOnly, bool mapping, ushort grantee)
    {
        ref uint word = ref Header(gref);
        ushort typeMask = (ushort)(GrantEntryFlags.TypeMask | (mapping ? GrantEntryFlags.SubPage : 0));
        uint current = Volatile.Read(ref word);
        for (int retries = 0; ; retries++)
        {
            ushort flags = (ushort)current;
            ushort domid = (ushort)(current >> 16);
            if (!alreadyPinned && ((flags & typeMask) != GrantEntryFlags.PermitAccess || domid != grantee))
                return GrantStatus.GeneralError;
            ushort updated = (ushort)(flags | GrantEntryFlags.Reading);
            if (!readOnly)
            {
                if ((flags & GrantEntryFlags.ReadOnly) != 0)
                    return GrantStatus.GeneralError;
                updated |= GrantEntryFlags.Writing;
            }
            uint seen = Interlocked.CompareExchange(ref word, (current & 0xffff_0000u) | updated, current);
            if (seen == current)
                return GrantStatus.Okay;
            if (retries == MaxStatusRetries)
                return GrantStatus.GeneralError;   // "Shared grant entry is unstable"
            current = seen;
        }
    }

    /// <summary>gnttab_clear_flags: an atomic AND on the flags half, so a concurrent guest write to either half is never lost.</summary>
    internal void ClearFlags(uint gref, ushort flags)
    {
        if (flags != 0)
            Interlocked.And(ref Header(gref), ~(uint)flags);
    }

    /// <summary>
    /// After a pin count changed downwards (an unmap, the end of a copy, a failed pin): clears
    /// GTF_writing once no writable pin is left (if the use was writable) and GTF_reading once no pin is.
    /// </summary>
    internal void ClearStatusForPin(uint gref, bool readOnly)
    {
        ref ActiveGrant active = ref _active[gref];
        ushort clear = 0;
        if (!readOnly && (active.Pin & GrantPin.WriteMask) == 0)
            clear |= GrantEntryFlags.Writing;
        if (active.Pin == 0)
            clear |= GrantEntryFlags.Reading;
        ClearFlags(gref, clear);
    }

    /// <summary>Swaps two whole shared entries (GNTTABOP_swap_grant_ref; the caller checked neither is pinned).</summary>
    internal void SwapEntries(uint a, uint b)
    {
        ref ulong first = ref _memory.Block.GetRef<ulong>(EntryAddress(a));
        ref ulong second = ref _memory.Block.GetRef<ulong>(EntryAddress(b));
        (first, second) = (second, first);
    }
}
