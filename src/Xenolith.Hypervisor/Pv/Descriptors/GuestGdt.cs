using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Pv.Descriptors;

/// <summary>
/// One vCPU's guest part of the GDT (entries 0..7167, pages 0..13 of the vCPU's GDT area). The CPU
/// never reads the guest's frames: set_gdt validates them and copies every descriptor into
/// hypervisor-owned shadow frames, and update_descriptor keeps the copy current, so a guest that
/// still holds a writable mapping of its GDT frame can change nothing the CPU uses.
/// </summary>
/// <remarks>
/// Invariant: the shadow holds every descriptor of the frames in use (whole pages, all validated),
/// and zeros (not present) after them. As on Xen, whose GDTR limit always covers all 16 pages and
/// which maps the guest's frames whole, an entry past <see cref="Entries"/> but inside the last
/// frame still loads; the CPU faults on any selector beyond the frames.
/// <para>
/// Frame types: a frame in any GDT is typed <see cref="FrameType.SegmentDescriptors"/>, which keeps
/// it from becoming a page table (and update_descriptor refuses page tables), as Xen's type counts
/// do. A frame may sit in several vCPUs' GDTs, and this object sees only its own, so whoever drops
/// a frame says whether another GDT still holds it (the <c>inUseElsewhere</c> argument of
/// <see cref="Set(ReadOnlySpan{ulong}, uint, Func{ulong, bool}?)"/>); the set_gdt hypercall asks the
/// domain's other vCPUs, under a per-domain lock (Xen's domain_lock): the answer is only sound if
/// no other GDT of the domain changes meanwhile.
/// </para>
/// <para>
/// Thread safety: Set and <see cref="TryGetDescriptor"/> run on the owning vCPU's thread;
/// <see cref="OnDescriptorWritten"/> runs on whichever vCPU issued update_descriptor. One lock orders
/// them, and Set snapshots the guest frames under it, so a write that lands in the guest frame while
/// Set runs is either in the snapshot or applied after it. Set checks and installs the same snapshot,
/// so a guest rewriting its frame concurrently cannot slip an unchecked descriptor in.
/// </para>
/// </remarks>
public sealed class GuestGdt
{
    public const int EntriesPerFrame = MachineMemory.PageSize / sizeof(ulong);
    public const int MaxFrames = X86Layout.FirstReservedGdtPage;
    public const int MaxEntries = X86Layout.FirstReservedGdtEntry;

    private readonly MachineMemory _memory;
    private readonly ushort _domainId;
    private readonly ulong[] _shadowFrames;
    private readonly ulong _reservedFrame;
    private readonly Lock _lock = new();
    private ulong[] _frames = [];
    private uint _entries;

    /// <param name="shadowFrames">The 14 Xen-owned frames mapped at GDT pages 0..13.</param>
    /// <param name="reservedFrame">The frame of the reserved page (entries 0xe000..: Xen's flat selectors).</param>
    public GuestGdt(MachineMemory memory, ushort domainId, IReadOnlyList<ulong> shadowFrames, ulong reservedFrame)
    {
        if (shadowFrames.Count != MaxFrames)
            throw new ArgumentException($"a GDT has {MaxFrames} guest pages, not {shadowFrames.Count}", nameof(shadowFrames));
        _memory = memory;
        _domainId = domainId;
        _shadowFrames = [.. shadowFrames];
        _reservedFrame = reservedFrame;
    }

    /// <summary>The number of guest entries (set_gdt's <c>entries</c>); 0 when the guest has no GDT.</summary>
    public uint Entries
    {
        get { lock (_lock) return _entries; }
    }

    /// <summary>The guest frames of the current GDT (ceil(Entries / 512) of them), as a copy.</summary>
    public IReadOnlyList<ulong> Frames
    {
        get { lock (_lock) return [.. _frames]; }
    }

    /// <summary>Whether <paramref name="mfn"/> is one of this GDT's frames.</summary>
    public bool Uses(ulong mfn)
    {
        lock (_lock)
            return Array.IndexOf(_frames, mfn) >= 0;
    }

    /// <summary>set_gdt: 0, or -EINVAL (too many entries, a frame the domain does not own or may not use, an invalid descriptor).</summary>
    /// <remarks>A frame this GDT drops goes back to <see cref="FrameType.None"/>: correct when no other GDT can hold it (one vCPU, tests).</remarks>
    public long Set(ReadOnlySpan<ulong> frames, uint entries) => Set(frames, entries, inUseElsewhere: null);

    /// <summary>
    /// set_gdt (Xen's pv_set_gdt): validates ceil(<paramref name="entries"/> / 512) frames and every one of
    /// their 512 descriptors (as Xen does when a frame becomes a descriptor page), then installs them: 0,
    /// or -EINVAL with nothing changed. The guest frames get Xen's in-place DPL fix-ups; the shadow gets
    /// the fixed entries [0, entries) and zeros after them.
    /// </summary>
    /// <param name="inUseElsewhere">Whether a frame this GDT drops is still in another GDT (then it keeps its type); null: never.</param>
    public long Set(ReadOnlySpan<ulong> frames, uint entries, Func<ulong, bool>? inUseElsewhere)
    {
        if (entries > MaxEntries)
            return -XenErrno.EINVAL;
        int count = (int)((entries + EntriesPerFrame - 1) / EntriesPerFrame);
        if (frames.Length < count)
            throw new ArgumentException($"{entries} entries need {count} frames; {frames.Length} given", nameof(frames));
        frames = frames[..count];

        ulong[] previous;
        lock (_lock)
        {
            foreach (ulong mfn in frames)
            {
                if (mfn >= _memory.FrameCount || _memory.OwnerOf(mfn) != _domainId)
                    return -XenErrno.EINVAL;
                // Xen's get_page_type(PGT_seg_desc_page) fails for a page table or a page mapped writable.
                if (_memory.TypeOf(mfn) is not (FrameType.None or FrameType.SegmentDescriptors))
                    return -XenErrno.EINVAL;
            }

            var original = new ulong[count * EntriesPerFrame];
            for (int i = 0; i < count; i++)
                Descriptors(frames[i]).CopyTo(original.AsSpan(i * EntriesPerFrame, EntriesPerFrame));
            var checkedEntries = (ulong[])original.Clone();
            for (int i = 0; i < checkedEntries.Length; i++)
            {
                if (!SegmentDescriptor.Check(ref checkedEntries[i]))
                    return -XenErrno.EINVAL;
            }

            // Xen fixes the descriptors in the guest's page; only where the guest has not rewritten them since the snapshot.
            for (int i = 0; i < checkedEntries.Length; i++)
            {
                if (checkedEntries[i] != original[i])
                {
                    ref ulong slot = ref Descriptors(frames[i / EntriesPerFrame])[i % EntriesPerFrame];
                    Interlocked.CompareExchange(ref slot, checkedEntries[i], original[i]);
                }
            }

            for (int page = 0; page < MaxFrames; page++)
            {
                Span<ulong> shadow = Descriptors(_shadowFrames[page]);
                int first = page * EntriesPerFrame;
                int used = (int)Math.Clamp((long)checkedEntries.Length - first, 0, EntriesPerFrame);
                checkedEntries.AsSpan(Math.Min(first, checkedEntries.Length), used).CopyTo(shadow);
                shadow[used..].Clear();
            }

            previous = _frames;
            _frames = frames.ToArray();
            _entries = entries;
            foreach (ulong mfn in _frames)
                _memory.SetType(mfn, FrameType.SegmentDescriptors);
        }

        // Outside this GDT's lock: the question takes the other GDTs' locks.
        foreach (ulong mfn in previous.Distinct())
        {
            if (frames.IndexOf(mfn) < 0 && (inUseElsewhere is null || !inUseElsewhere(mfn)))
                _memory.SetType(mfn, FrameType.None);
        }
        return 0;
    }

    /// <summary>After update_descriptor wrote <paramref name="descriptor"/> (already checked) into guest frame <paramref name="mfn"/>: refresh the shadow if that frame is in this GDT.</summary>
    public void OnDescriptorWritten(ulong mfn, int index, ulong descriptor)
    {
        if ((uint)index >= EntriesPerFrame)
            throw new ArgumentOutOfRangeException(nameof(index), index, "a frame holds 512 descriptors");
        lock (_lock)
        {
            // A frame may appear more than once in the list: every copy is a live GDT page.
            for (int page = 0; page < _frames.Length; page++)
            {
                if (_frames[page] == mfn)
                    Volatile.Write(ref Descriptors(_shadowFrames[page])[index], descriptor);
            }
        }
    }

    /// <summary>
    /// The descriptor the CPU would use for <paramref name="selector"/> (GDT only; LDT selectors fail):
    /// a guest entry below <see cref="Entries"/> from the shadow, or one of Xen's reserved entries
    /// (7168..7679). Index 0 yields 0: the CPU never reads the null entry, and callers treat it as null.
    /// </summary>
    public bool TryGetDescriptor(ushort selector, out ulong descriptor)
    {
        descriptor = 0;
        if ((selector & 4) != 0)
            return false;
        int index = selector >> 3;
        if (index == 0)
            return true;
        if (index >= MaxEntries && index < MaxEntries + EntriesPerFrame)
        {
            descriptor = Descriptors(_reservedFrame)[index - MaxEntries];
            return true;
        }
        lock (_lock)
        {
            if (index >= _frames.Length * EntriesPerFrame)
                return false;
            descriptor = Descriptors(_shadowFrames[index / EntriesPerFrame])[index % EntriesPerFrame];
            return true;
        }
    }

    private Span<ulong> Descriptors(ulong mfn) => MemoryMarshal.Cast<byte, ulong>(_memory.Frame(mfn));
}
