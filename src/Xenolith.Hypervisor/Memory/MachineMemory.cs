using Xenolith.Kvm.Memory;

namespace Xenolith.Hypervisor.Memory;

/// <summary>
/// The machine memory pool: one memfd handed out frame by frame. Tracks each frame's owner and
/// the global machine-to-physical (M2P) table. Domains get whatever frames are free, in no
/// promised order, so nothing may assume a domain's memory is contiguous.
/// Invariant: every free frame is zero (a new memfd is zero; <see cref="Free"/> scrubs), so
/// allocation never touches the page: clearing 32K fresh pages would fault each one in.
/// </summary>
public sealed class MachineMemory : IDisposable
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
    public const ulong InvalidPfn = ulong.MaxValue;

    private readonly PageInfo[] _pages;
    private readonly ulong[] _m2pFrames;
    private readonly Stack<ulong> _free;
    private readonly Lock _lock = new();

    public MachineMemory(ulong bytes)
    {
        bytes = (bytes + PageSize - 1) & ~(ulong)(PageSize - 1);
        Block = MemoryBlock.CreateShared(bytes, "xenolith-machine-memory");
        FrameCount = bytes >> PageShift;
        _pages = new PageInfo[FrameCount];
        for (ulong mfn = 0; mfn < FrameCount; mfn++)
            _pages[mfn].Owner = DomainIds.Invalid;
        // Frame 0 is never handed out: a zero machine address stays an obvious bug.
        _free = new Stack<ulong>((int)FrameCount);
        for (ulong mfn = FrameCount - 1; mfn >= 1; mfn--)
            _free.Push(mfn);
        _pages[0].Owner = DomainIds.Xen;
        _pages[0].RefCount = 1;

        // The M2P lives in machine frames of its own so that guests can map it read-only.
        _m2pFrames = Allocate(DomainIds.Xen, (FrameCount * sizeof(ulong) + PageSize - 1) / PageSize);
        foreach (ulong frame in _m2pFrames)
            Frame(frame).Fill(0xff);
    }

    /// <summary>The frames holding the machine-to-physical table, in order (8 bytes per mfn, ~0 = invalid).</summary>
    public IReadOnlyList<ulong> MachineToPhysFrames => _m2pFrames;

    /// <summary>
    /// The lock every page-type and reference-count change holds (Xen takes per-page locks and
    /// cmpxchg loops; one lock keeps the state machine simple while a domain has one vCPU).
    /// </summary>
    public Lock SyncRoot => _lock;

    /// <summary>The whole pool; guest-physical address = machine address in every PV domain's VM.</summary>
    public MemoryBlock Block { get; }

    public ulong FrameCount { get; }

    public ulong FreeFrames
    {
        get { lock (_lock) return (ulong)_free.Count; }
    }

    public bool IsValidFrame(ulong mfn) => mfn < FrameCount;

    public ushort OwnerOf(ulong mfn) => mfn < FrameCount ? _pages[mfn].Owner : DomainIds.Invalid;

    /// <summary>
    /// What the frame is in use as: its type while it holds type references (or the uncounted
    /// segment-descriptor marker the GDT code sets), else <see cref="FrameType.None"/>.
    /// </summary>
    public FrameType TypeOf(ulong mfn)
    {
        if (mfn >= FrameCount)
            return FrameType.None;
        ref PageInfo page = ref _pages[mfn];
        return page.TypeCount > 0 || page.Type == FrameType.SegmentDescriptors ? page.Type : FrameType.None;
    }

    /// <summary>The uncounted segment-descriptor marker (GuestGdt); a frame holding type references keeps its type.</summary>
    public void SetType(ulong mfn, FrameType type)
    {
        lock (_lock)
        {
            ref PageInfo page = ref _pages[mfn];
            if (page.TypeCount == 0)
                page.Type = type;
        }
    }

    /// <summary>The frame's bookkeeping; callers hold <see cref="SyncRoot"/> to change it.</summary>
    public ref PageInfo Page(ulong mfn) => ref _pages[mfn];

    /// <summary>Allocates one (zero) frame for <paramref name="owner"/>.</summary>
    public ulong Allocate(ushort owner)
    {
        ulong mfn;
        lock (_lock)
        {
            if (!_free.TryPop(out mfn))
                throw new OutOfMachineMemoryException(1, 0);
            _pages[mfn] = PageInfo.Allocated(owner);
        }
        return mfn;
    }

    /// <summary>Allocates <paramref name="count"/> (zero) frames, all or none.</summary>
    public ulong[] Allocate(ushort owner, ulong count)
    {
        var frames = new ulong[count];
        lock (_lock)
        {
            if ((ulong)_free.Count < count)
                throw new OutOfMachineMemoryException(count, (ulong)_free.Count);
            for (ulong i = 0; i < count; i++)
            {
                frames[i] = _free.Pop();
                _pages[frames[i]] = PageInfo.Allocated(owner);
            }
        }
        return frames;
    }

    /// <summary>
    /// Returns frames to the pool whatever their counts (a dead domain's, or the hypervisor's own),
    /// scrubbed so the next owner never sees old contents.
    /// </summary>
    public void Free(IEnumerable<ulong> frames)
    {
        lock (_lock)
        {
            foreach (ulong mfn in frames)
            {
                if (mfn == 0 || mfn >= FrameCount || _pages[mfn].Owner == DomainIds.Invalid)
                    continue;
                Release(mfn);
            }
        }
    }

    /// <summary>Xen's put_page reaching zero: the frame goes back to the pool. Caller holds the lock.</summary>
    internal void Release(ulong mfn)
    {
        Frame(mfn).Clear();
        _pages[mfn] = new PageInfo { Owner = DomainIds.Invalid };
        SetMachineToPhys(mfn, InvalidPfn);
        _free.Push(mfn);
    }

    public Span<byte> Frame(ulong mfn) => Block.GetSpan(mfn << PageShift, PageSize);

    public ulong MachineToPhys(ulong mfn) => mfn < FrameCount ? M2pEntry(mfn) : InvalidPfn;

    public void SetMachineToPhys(ulong mfn, ulong pfn) => M2pEntry(mfn) = pfn;

    private ref ulong M2pEntry(ulong mfn) =>
        ref System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(Frame(_m2pFrames[mfn / (PageSize / sizeof(ulong))]))[(int)(mfn % (PageSize / sizeof(ulong)))];

    public void Dispose() => Block.Dispose();
}

/// <summary>A frame's use (Xen's PGT_* page types). A frame is a page table or writable, never both at once.</summary>
public enum FrameType : byte
{
    None,
    L1PageTable,
    L2PageTable,
    L3PageTable,
    L4PageTable,
    SegmentDescriptors,
    Writable,
}

/// <summary>The pool cannot satisfy an allocation.</summary>
public sealed class OutOfMachineMemoryException(ulong wanted, ulong free)
    : Exception($"out of machine memory: wanted {wanted} frames, {free} free");
