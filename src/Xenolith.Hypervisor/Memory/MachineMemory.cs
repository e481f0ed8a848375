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

    private readonly ushort[] _owner;
    private readonly FrameType[] _type;
    private readonly ulong[] _m2p;
    private readonly Stack<ulong> _free;
    private readonly Lock _lock = new();

    public MachineMemory(ulong bytes)
    {
        bytes = (bytes + PageSize - 1) & ~(ulong)(PageSize - 1);
        Block = MemoryBlock.CreateShared(bytes, "xenolith-machine-memory");
        FrameCount = bytes >> PageShift;
        _owner = new ushort[FrameCount];
        _type = new FrameType[FrameCount];
        _m2p = new ulong[FrameCount];
        Array.Fill(_owner, DomainIds.Invalid);
        Array.Fill(_m2p, InvalidPfn);
        // Frame 0 is never handed out: a zero machine address stays an obvious bug.
        _free = new Stack<ulong>((int)FrameCount);
        for (ulong mfn = FrameCount - 1; mfn >= 1; mfn--)
            _free.Push(mfn);
        _owner[0] = DomainIds.Xen;
    }

    /// <summary>The whole pool; guest-physical address = machine address in every PV domain's VM.</summary>
    public MemoryBlock Block { get; }

    public ulong FrameCount { get; }

    public ulong FreeFrames
    {
        get { lock (_lock) return (ulong)_free.Count; }
    }

    public bool IsValidFrame(ulong mfn) => mfn < FrameCount;

    public ushort OwnerOf(ulong mfn) => mfn < FrameCount ? _owner[mfn] : DomainIds.Invalid;

    /// <summary>
    /// What the frame is used as. Until the validating MMU (which adds reference counts) only the
    /// builder's bootstrap page tables are typed; everything else a guest owns is <see cref="FrameType.None"/>.
    /// </summary>
    public FrameType TypeOf(ulong mfn) => mfn < FrameCount ? _type[mfn] : FrameType.None;

    public void SetType(ulong mfn, FrameType type) => _type[mfn] = type;

    /// <summary>Allocates one (zero) frame for <paramref name="owner"/>.</summary>
    public ulong Allocate(ushort owner)
    {
        ulong mfn;
        lock (_lock)
        {
            if (!_free.TryPop(out mfn))
                throw new OutOfMachineMemoryException(1, 0);
            _owner[mfn] = owner;
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
                _owner[frames[i]] = owner;
            }
        }
        return frames;
    }

    /// <summary>Returns frames to the pool, scrubbed so the next owner never sees old contents.</summary>
    public void Free(IEnumerable<ulong> frames)
    {
        lock (_lock)
        {
            foreach (ulong mfn in frames)
            {
                if (mfn == 0 || mfn >= FrameCount || _owner[mfn] == DomainIds.Invalid)
                    continue;
                Frame(mfn).Clear();
                _owner[mfn] = DomainIds.Invalid;
                _type[mfn] = FrameType.None;
                _m2p[mfn] = InvalidPfn;
                _free.Push(mfn);
            }
        }
    }

    public Span<byte> Frame(ulong mfn) => Block.GetSpan(mfn << PageShift, PageSize);

    public ulong MachineToPhys(ulong mfn) => mfn < FrameCount ? _m2p[mfn] : InvalidPfn;

    public void SetMachineToPhys(ulong mfn, ulong pfn) => _m2p[mfn] = pfn;

    public void Dispose() => Block.Dispose();
}

/// <summary>A frame's use (Xen's PGT_* page types).</summary>
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
