using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// memory_op (Xen's do_memory_op and x86's arch_memory_op) for an unprivileged 64-bit PV domain:
/// ballooning (increase/decrease_reservation, populate_physmap), exchanging frames, and the queries
/// a PV kernel makes at boot (reservation sizes, the e820 map, where the read-only M2P is).
/// <para>
/// The command is <c>op | (start_extent &lt;&lt; 6)</c>. The reservation ops return the number of
/// extents done and never an errno: any refusal returns start_extent. They stop at the first
/// extent that fails and yield between extents with a continuation that resumes at the next one.
/// </para>
/// <para>
/// Where this differs from Xen, and why:
/// <list type="bullet">
/// <item>An extent of order &gt; 0 is machine-contiguous, as on Xen, but not naturally aligned: the
/// pool hands frames out from a free list, so an extent is accepted when the 2^order frames it
/// gives are consecutive (in any order) and otherwise returned and treated as an allocation failure.
/// Order-0 extents, which is what PV kernels balloon with, always succeed while memory lasts.</item>
/// <item>decrease_reservation checks every frame of an extent before giving any back (Xen may give
/// back the first frames of an extent and then stop), refuses a frame whose allocation reference is
/// already gone (Xen accepts it and does nothing), and takes the frames out of tot_pages at once
/// (Xen does when the last reference goes). Frames in use as a GDT are refused: their
/// segment-descriptor marker holds no reference here, unlike Xen's type count.</item>
/// <item>shared_info, a hypervisor page the domain owns, can be neither given back nor exchanged (on
/// Xen it is a xenheap page, never the guest's to free).</item>
/// </list>
/// </para>
/// </summary>
public static class MemoryOpHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.MemoryOp, Handle);

    /// <summary>struct xen_memory_reservation (32 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ReservationArgs
    {
        public ulong ExtentStart;
        public ulong NrExtents;
        public uint ExtentOrder;
        public uint MemFlags;
        public ushort DomainId;
        private ushort _pad0;
        private uint _pad1;
    }

    /// <summary>struct xen_memory_exchange (72 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ExchangeArgs
    {
        public ReservationArgs In;
        public ReservationArgs Out;
        public ulong NrExchanged;
    }

    /// <summary>struct xen_machphys_mfn_list (24 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MfnListArgs
    {
        public uint MaxExtents;
        private uint _pad0;
        public ulong ExtentStart;
        public uint NrExtents;
        private uint _pad1;
    }

    /// <summary>struct xen_machphys_mapping (24 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MachphysMappingArgs
    {
        public ulong VStart;
        public ulong VEnd;
        public ulong MaxMfn;
    }

    /// <summary>struct xen_memory_map (16 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MemoryMapArgs
    {
        public uint NrEntries;
        private uint _pad0;
        public ulong Buffer;
    }

    /// <summary>struct xen_foreign_memory_map (24 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ForeignMemoryMapArgs
    {
        public ushort DomainId;
        private ushort _pad0;
        private uint _pad1;
        public MemoryMapArgs Map;
    }

    private static long Handle(Vcpu caller, in HypercallArguments args) => Execute(new VcpuCaller(caller), args);

    internal static long Execute(IMemoryOpCaller caller, in HypercallArguments args)
    {
        int op = (int)(args.Arg1 & MemoryOp.CmdMask);
        ulong startExtent = args.Arg1 >> MemoryOp.ExtentShift;
        switch (op)
        {
            case MemoryOp.IncreaseReservation or MemoryOp.DecreaseReservation or MemoryOp.PopulatePhysmap:
                return Reservation(caller, args, op, startExtent);
            case MemoryOp.Exchange:
                return startExtent != 0 ? -XenErrno.EINVAL : Exchange(caller, args);
            case MemoryOp.MaximumRamPage:
                return startExtent != 0 ? -XenErrno.EINVAL : (long)caller.Domain.Xen.Memory.FrameCount;
            case MemoryOp.CurrentReservation or MemoryOp.MaximumReservation or MemoryOp.MaximumGpfn:
                return startExtent != 0 ? -XenErrno.EINVAL : QueryReservation(caller, args.Arg2, op);
        }

        // The rest is x86's arch_memory_op, which matches the whole command: a start_extent makes it unknown.
        return args.Arg1 switch
        {
            MemoryOp.MachphysMfnList => MachphysMfnList(caller, args.Arg2),
            MemoryOp.MachphysMapping => MachphysMapping(caller, args.Arg2),
            MemoryOp.MemoryMap => GetMemoryMap(caller, args.Arg2),
            MemoryOp.SetMemoryMap => SetMemoryMap(caller, args.Arg2),
            MemoryOp.MachineMemoryMap => -XenErrno.EPERM,  // XSM_PRIV: the host's map is not a domU's business
            _ => -XenErrno.ENOSYS,
        };
    }

    // ---- increase_reservation, decrease_reservation, populate_physmap ----

    private static long Reservation(IMemoryOpCaller caller, in HypercallArguments args, int op, ulong startExtent)
    {
        Domain domain = caller.Domain;
        long nothingDone = (long)startExtent;
        if (Read(caller, args.Arg2, out ReservationArgs r) != 0)
            return nothingDone;
        // A count too large to encode in a continuation, or nothing left to do.
        if (r.NrExtents > uint.MaxValue >> MemoryOp.ExtentShift || startExtent >= r.NrExtents)
            return nothingDone;
        // Another domain, existing or not, is refused the same way (no -ESRCH, no -EPERM).
        if (CheckTarget(domain, r.DomainId) != 0 || !AcceptableFlags(r.MemFlags) || r.ExtentOrder > MemoryOp.DomUMaxOrder)
            return nothingDone;
        // Populate-on-demand is for translated guests, and never on oneself.
        if (op == MemoryOp.PopulatePhysmap && (r.MemFlags & MemoryOp.PopulateOnDemand) != 0)
            return nothingDone;
        bool hasList = op != MemoryOp.IncreaseReservation || r.ExtentStart != 0;
        if (hasList && !SubrangeOk(r.ExtentStart, startExtent, r.NrExtents - 1))
            return nothingDone;

        int order = (int)r.ExtentOrder;
        uint addressBits = r.MemFlags & MemoryOp.AddressBitsMask;
        ulong i = startExtent;
        for (; i < r.NrExtents; i++)
        {
            if (i != startExtent && caller.ShouldPreemptHypercall())
            {
                caller.CreateContinuation(args with { Arg1 = (uint)op | (i << MemoryOp.ExtentShift) });
                break;
            }
            ulong slot = r.ExtentStart + i * sizeof(ulong);
            bool done = op switch
            {
                MemoryOp.IncreaseReservation => IncreaseOne(caller, slot, hasList, order, addressBits),
                MemoryOp.PopulatePhysmap => PopulateOne(caller, slot, order, addressBits),
                _ => DecreaseOne(caller, slot, order),
            };
            if (!done)
                break;
        }
        return (long)i;
    }

    /// <summary>
    /// construct_memop_from_reservation for an unprivileged caller: address_bits of 1..12 leave no
    /// frame to allocate from; a NUMA node is only a hint, so asking for it exactly is refused (there
    /// is no virtual NUMA topology, so a virtual node is ignored).
    /// </summary>
    private static bool AcceptableFlags(uint flags)
    {
        uint addressBits = flags & MemoryOp.AddressBitsMask;
        if (addressBits != 0 && addressBits <= MachineMemory.PageShift)
            return false;
        if ((flags & MemoryOp.VirtualNode) != 0)
            return true;
        return (flags & MemoryOp.NodeMask) == 0 || (flags & MemoryOp.ExactNodeRequest) == 0;
    }

    /// <summary>One extent of increase_reservation; its first MFN goes to the list if there is one.</summary>
    private static bool IncreaseOne(IMemoryOpCaller caller, ulong slot, bool report, int order, uint addressBits)
    {
        Domain domain = caller.Domain;
        ulong mfn;
        lock (domain.Xen.Memory.SyncRoot)
        {
            if (!TryAllocateExtent(domain, order, addressBits, charge: true, out mfn))
                return false;
        }
        // As on Xen, an extent whose MFN cannot be reported stays allocated but does not count as done.
        return !report || Write(caller, slot, mfn) == 0;
    }

    /// <summary>One extent of populate_physmap: the slot holds the GPFN going in and the first MFN coming out.</summary>
    private static bool PopulateOne(IMemoryOpCaller caller, ulong slot, int order, uint addressBits)
    {
        if (Read(caller, slot, out ulong gpfn) != 0)
            return false;
        Domain domain = caller.Domain;
        MachineMemory memory = domain.Xen.Memory;
        ulong mfn;
        lock (memory.SyncRoot)
        {
            if (!TryAllocateExtent(domain, order, addressBits, charge: true, out mfn))
                return false;
            for (ulong j = 0; j < 1UL << order; j++)
                memory.SetMachineToPhys(mfn + j, gpfn + j);
        }
        return Write(caller, slot, mfn) == 0;
    }

    /// <summary>One extent of decrease_reservation: the slot holds the first MFN (= GMFN for PV).</summary>
    private static bool DecreaseOne(IMemoryOpCaller caller, ulong slot, int order)
    {
        if (Read(caller, slot, out ulong first) != 0)
            return false;
        Domain domain = caller.Domain;
        MachineMemory memory = domain.Xen.Memory;
        ulong count = 1UL << order;
        lock (memory.SyncRoot)
        {
            if (first >= memory.FrameCount || count > memory.FrameCount - first)
                return false;
            for (ulong j = 0; j < count; j++)
            {
                if (!CanGiveBack(domain, first + j))
                    return false;
            }
            for (ulong j = 0; j < count; j++)
            {
                // guest_remove_page: unpin, drop the allocation reference (the frame is scrubbed and
                // freed once nothing maps it), forget its M2P entry.
                domain.Xen.PageTypes.ReleaseAllocation(first + j, domain);
                memory.SetMachineToPhys(first + j, MachineMemory.InvalidPfn);
            }
            domain.TotalPages -= Math.Min(count, domain.TotalPages);
        }
        return true;
    }

    /// <summary>A frame the domain may give back: its own, still allocated, not the hypervisor's, not in a GDT.</summary>
    private static bool CanGiveBack(Domain domain, ulong mfn)
    {
        MachineMemory memory = domain.Xen.Memory;
        ref PageInfo page = ref memory.Page(mfn);
        return page.Owner == domain.Id && page.IsAllocated && !domain.IsHypervisorPage(mfn)
            && memory.TypeOf(mfn) != FrameType.SegmentDescriptors;
    }

    /// <summary>
    /// steal_page's condition: the domain's own frame, holding nothing but its allocation reference
    /// (not mapped, pinned, typed or in a GDT), and not a hypervisor page.
    /// </summary>
    private static bool CanSteal(Domain domain, ulong mfn)
    {
        MachineMemory memory = domain.Xen.Memory;
        if (!memory.IsValidFrame(mfn))
            return false;
        ref PageInfo page = ref memory.Page(mfn);
        return page.Owner == domain.Id && page.IsAllocated && page.RefCount == 1 && page.TypeCount == 0
            && !domain.IsHypervisorPage(mfn) && memory.TypeOf(mfn) != FrameType.SegmentDescriptors;
    }

    /// <summary>
    /// alloc_domheap_pages: 2^<paramref name="order"/> zero frames for the domain, machine-contiguous
    /// (see the class remarks), each below 2^<paramref name="addressBits"/> bytes (0: no limit).
    /// <paramref name="charge"/> counts them in tot_pages, within max_pages (exchange does not:
    /// Xen's MEMF_no_refcount). Returns the lowest frame. Caller holds SyncRoot.
    /// </summary>
    private static bool TryAllocateExtent(Domain domain, int order, uint addressBits, bool charge, out ulong firstMfn)
    {
        firstMfn = 0;
        ulong count = 1UL << order;
        if (domain.IsDying || (addressBits != 0 && addressBits <= MachineMemory.PageShift))
            return false;
        if (charge && (domain.TotalPages > domain.MaxPages || count > domain.MaxPages - domain.TotalPages))
            return false;
        MachineMemory memory = domain.Xen.Memory;
        ulong[] frames;
        try
        {
            frames = memory.Allocate(domain.Id, count);
        }
        catch (OutOfMachineMemoryException)
        {
            return false;
        }
        ulong first = frames.Min(), last = frames.Max();
        int limitShift = (int)addressBits - MachineMemory.PageShift;
        bool belowLimit = addressBits == 0 || limitShift >= 64 || last < 1UL << limitShift;
        if (last - first != count - 1 || !belowLimit)
        {
            // Back in the order they came out, so the next allocation sees the same free list.
            Array.Reverse(frames);
            memory.Free(frames);
            return false;
        }
        if (charge)
            domain.TotalPages += count;
        firstMfn = first;
        return true;
    }

    // ---- exchange ----

    private static long Exchange(IMemoryOpCaller caller, in HypercallArguments args)
    {
        ulong arg = args.Arg2;
        if (Read(caller, arg, out ExchangeArgs x) != 0)
            return -XenErrno.EFAULT;
        long rc = CheckExchange(caller.Domain, x, out int inChunkOrder, out int outChunkOrder);
        if (rc > 0)
            return 0;  // nothing left to exchange
        if (rc != 0)
            return WriteExchanged(caller, arg, x.NrExchanged, rc);

        // A continuation re-issues the same call: nr_exchanged, written back, says where to resume.
        ulong firstChunk = x.NrExchanged >> inChunkOrder;
        ulong chunks = x.In.NrExtents >> inChunkOrder;
        ulong i = firstChunk;
        for (; i < chunks; i++)
        {
            if (i != firstChunk && caller.ShouldPreemptHypercall())
            {
                if (WriteExchanged(caller, arg, i << inChunkOrder, 0) != 0)
                    return -XenErrno.EFAULT;
                caller.CreateContinuation(args);
                return 0;
            }
            rc = ExchangeChunk(caller, x, i, inChunkOrder, outChunkOrder);
            if (rc != 0)
                break;
        }
        return WriteExchanged(caller, arg, rc == 0 ? x.In.NrExtents : i << inChunkOrder, rc);
    }

    /// <summary>memory_exchange's checks, in Xen's order. 0: go ahead; 1: nothing to do; else the error.</summary>
    private static long CheckExchange(Domain domain, in ExchangeArgs x, out int inChunkOrder, out int outChunkOrder)
    {
        inChunkOrder = outChunkOrder = 0;
        if (Math.Max(x.In.ExtentOrder, x.Out.ExtentOrder) > MemoryOp.DomUMaxOrder)
            return -XenErrno.EPERM;
        int inOrder = (int)x.In.ExtentOrder, outOrder = (int)x.Out.ExtentOrder;
        if (x.NrExchanged > x.In.NrExtents
            || x.In.DomainId != x.Out.DomainId
            || (ulong.MaxValue >> inOrder) < x.In.NrExtents
            || (ulong.MaxValue >> outOrder) < x.Out.NrExtents
            || x.In.NrExtents << inOrder != x.Out.NrExtents << outOrder)
            return -XenErrno.EINVAL;
        if (x.NrExchanged == x.In.NrExtents)
            return 1;
        if (!SubrangeOk(x.In.ExtentStart, x.NrExchanged, x.In.NrExtents - 1))
            return -XenErrno.EFAULT;
        // A chunk is the smallest whole number of input and of output extents of the same size.
        ulong firstOut;
        if (inOrder <= outOrder)
        {
            inChunkOrder = outOrder - inOrder;
            firstOut = x.NrExchanged >> inChunkOrder;
        }
        else
        {
            outChunkOrder = inOrder - outOrder;
            firstOut = x.NrExchanged << outChunkOrder;
        }
        if (!SubrangeOk(x.Out.ExtentStart, firstOut, x.Out.NrExtents - 1))
            return -XenErrno.EFAULT;
        uint outFlags = x.Out.MemFlags;
        if ((outFlags & MemoryOp.NodeMask) != 0 && (outFlags & MemoryOp.ExactNodeRequest) != 0)
            return -XenErrno.EINVAL;
        return CheckTarget(domain, x.In.DomainId);
    }

    /// <summary>
    /// One chunk: check the input frames, allocate the output extents (-ENOMEM leaves everything as it
    /// was), then give the inputs back and hand the outputs over, their M2P entries set from the GPFNs
    /// in the output list, which then receives their MFNs.
    /// </summary>
    private static long ExchangeChunk(IMemoryOpCaller caller, in ExchangeArgs x, ulong chunk, int inChunkOrder, int outChunkOrder)
    {
        Domain domain = caller.Domain;
        MachineMemory memory = domain.Xen.Memory;
        ulong inFrames = 1UL << (int)x.In.ExtentOrder, outFrames = 1UL << (int)x.Out.ExtentOrder;
        int inExtents = 1 << inChunkOrder, outExtents = 1 << outChunkOrder;
        uint addressBits = x.Out.MemFlags & MemoryOp.AddressBitsMask;
        lock (memory.SyncRoot)
        {
            var inputs = new List<ulong>(inExtents * (int)inFrames);
            var seen = new HashSet<ulong>();
            for (int j = 0; j < inExtents; j++)
            {
                if (Read(caller, x.In.ExtentStart + ((chunk << inChunkOrder) + (ulong)j) * sizeof(ulong), out ulong gmfn) != 0)
                    return -XenErrno.EFAULT;
                for (ulong k = 0; k < inFrames; k++)
                {
                    // Listing a frame twice fails as on Xen: the second steal finds it already taken.
                    if (!CanSteal(domain, gmfn + k) || !seen.Add(gmfn + k))
                        return -XenErrno.EINVAL;
                    inputs.Add(gmfn + k);
                }
            }

            var outputs = new ulong[outExtents];
            for (int j = 0; j < outExtents; j++)
            {
                if (!TryAllocateExtent(domain, (int)x.Out.ExtentOrder, addressBits, charge: false, out outputs[j]))
                {
                    for (int m = 0; m < j; m++)
                        memory.Free(Enumerable.Range(0, (int)outFrames).Select(f => outputs[m] + (ulong)f).ToArray());
                    return -XenErrno.ENOMEM;
                }
            }

            // The inputs hold only their allocation reference: each goes straight back to the pool.
            foreach (ulong mfn in inputs)
                domain.Xen.PageTypes.ReleaseAllocation(mfn, domain);

            long rc = 0;
            for (int j = 0; j < outExtents; j++)
            {
                ulong slot = x.Out.ExtentStart + ((chunk << outChunkOrder) + (ulong)j) * sizeof(ulong);
                // As on Xen, a bad output list still hands the frames over, but fails the chunk.
                if (Read(caller, slot, out ulong gpfn) != 0)
                {
                    rc = -XenErrno.EFAULT;
                    continue;
                }
                for (ulong k = 0; k < outFrames; k++)
                    memory.SetMachineToPhys(outputs[j] + k, gpfn + k);
                if (Write(caller, slot, outputs[j]) != 0)
                    rc = -XenErrno.EFAULT;
            }
            return rc;
        }
    }

    /// <summary>Writes nr_exchanged back; a fault there turns the result into -EFAULT.</summary>
    private static long WriteExchanged(IMemoryOpCaller caller, ulong arg, ulong exchanged, long rc) =>
        Write(caller, arg + MemoryOp.ExchangeNrExchangedOffset, exchanged) == 0 ? rc : -XenErrno.EFAULT;

    // ---- queries ----

    /// <summary>current_reservation, maximum_reservation and maximum_gpfn: the argument points to a domid_t.</summary>
    private static long QueryReservation(IMemoryOpCaller caller, ulong arg, int op)
    {
        if (Read(caller, arg, out ushort domid) != 0)
            return -XenErrno.EFAULT;
        Domain domain = caller.Domain;
        int rc = CheckTarget(domain, domid);
        if (rc != 0)
            return rc;
        switch (op)
        {
            case MemoryOp.CurrentReservation:
                return (long)domain.TotalPages;
            case MemoryOp.MaximumReservation:
                return (long)domain.MaxPages;
            default:
                // For PV, Xen answers (shared_info->arch.max_pfn ?: 1) - 1: the guest publishes its pfn space there.
                ulong maxPfn = domain.Xen.Memory.Block.Read<ulong>(
                    (domain.SharedInfoMfn << MachineMemory.PageShift) + MemoryOp.SharedInfoMaxPfnOffset);
                return (long)((maxPfn == 0 ? 1 : maxPfn) - 1);
        }
    }

    /// <summary>
    /// machphys_mapping: where the read-only M2P is (slot 257 here, not Xen's 256), up to the 2 MiB
    /// chunk holding the last machine frame's entry, and the highest machine frame.
    /// </summary>
    private static long MachphysMapping(IMemoryOpCaller caller, ulong arg)
    {
        ulong frames = caller.Domain.Xen.Memory.FrameCount;
        ulong tableBytes = (frames * sizeof(ulong) + MemoryOp.MachphysChunkSize - 1) & ~(MemoryOp.MachphysChunkSize - 1);
        var mapping = new MachphysMappingArgs
        {
            VStart = HypervisorLayout.M2pBase,
            VEnd = HypervisorLayout.M2pBase + tableBytes,
            MaxMfn = frames - 1,
        };
        return Write(caller, arg, mapping) == 0 ? 0 : -XenErrno.EFAULT;
    }

    /// <summary>
    /// machphys_mfn_list: for each 2 MiB of the M2P (512 of its frames), the first frame, up to
    /// max_extents; nr_extents says how many. The pool allocates the M2P first, from a fresh free
    /// list, so the 512 frames after each reported one are consecutive, as Xen's superpages are.
    /// </summary>
    private static long MachphysMfnList(IMemoryOpCaller caller, ulong arg)
    {
        if (Read(caller, arg, out MfnListArgs list) != 0)
            return -XenErrno.EFAULT;
        IReadOnlyList<ulong> frames = caller.Domain.Xen.Memory.MachineToPhysFrames;
        const int framesPerChunk = (int)(MemoryOp.MachphysChunkSize / MachineMemory.PageSize);
        uint i = 0;
        for (; i != list.MaxExtents && (ulong)i * framesPerChunk < (ulong)frames.Count; i++)
        {
            if (Write(caller, list.ExtentStart + (ulong)i * sizeof(ulong), frames[(int)i * framesPerChunk]) != 0)
                return -XenErrno.EFAULT;
        }
        list.NrExtents = i;
        return Write(caller, arg, list) == 0 ? 0 : -XenErrno.EFAULT;
    }

    /// <summary>memory_map: the domain's e820 as the toolstack set it (-ENOSYS if it never did: the guest then assumes one RAM region).</summary>
    private static long GetMemoryMap(IMemoryOpCaller caller, ulong arg)
    {
        if (Read(caller, arg, out MemoryMapArgs map) != 0)
            return -XenErrno.EFAULT;
        IReadOnlyList<E820Entry> e820 = caller.Domain.MemoryMap;
        if (e820.Count == 0)
            return -XenErrno.ENOSYS;
        uint count = Math.Min(map.NrEntries, (uint)e820.Count);
        var buffer = new byte[count * MemoryOp.E820EntrySize];
        for (int i = 0; i < count; i++)
        {
            Span<byte> record = buffer.AsSpan(i * MemoryOp.E820EntrySize, MemoryOp.E820EntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(record, e820[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(record[8..], e820[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(record[16..], e820[i].Type);
        }
        if (caller.CopyToGuest(map.Buffer, buffer) != 0)
            return -XenErrno.EFAULT;
        map.NrEntries = count;
        return Write(caller, arg, map) == 0 ? 0 : -XenErrno.EFAULT;
    }

    /// <summary>
    /// set_memory_map: XSM_TARGET, so a domain may set its own e820 (what memory_map then returns);
    /// another domain's is -EPERM. An empty map means none, as on Xen.
    /// </summary>
    private static long SetMemoryMap(IMemoryOpCaller caller, ulong arg)
    {
        if (Read(caller, arg, out ForeignMemoryMapArgs foreign) != 0)
            return -XenErrno.EFAULT;
        if (foreign.Map.NrEntries > MemoryOp.E820Max)
            return -XenErrno.EINVAL;
        Domain domain = caller.Domain;
        int rc = CheckTarget(domain, foreign.DomainId);
        if (rc != 0)
            return rc;
        var buffer = new byte[foreign.Map.NrEntries * MemoryOp.E820EntrySize];
        if (caller.CopyFromGuest(foreign.Map.Buffer, buffer) != 0)
            return -XenErrno.EFAULT;
        var entries = new E820Entry[foreign.Map.NrEntries];
        for (int i = 0; i < entries.Length; i++)
        {
            ReadOnlySpan<byte> record = buffer.AsSpan(i * MemoryOp.E820EntrySize, MemoryOp.E820EntrySize);
            entries[i] = new E820Entry(
                BinaryPrimitives.ReadUInt64LittleEndian(record),
                BinaryPrimitives.ReadUInt64LittleEndian(record[8..]),
                BinaryPrimitives.ReadUInt32LittleEndian(record[16..]));
        }
        domain.MemoryMap = entries;
        return 0;
    }

    // ---- helpers ----

    /// <summary>
    /// rcu_lock_domain_by_any_id then XSM_TARGET, for an unprivileged caller: 0 for itself
    /// (DOMID_SELF or its own id), -EPERM for any other domain, -ESRCH if there is none.
    /// </summary>
    private static int CheckTarget(Domain caller, ushort domid)
    {
        if (domid == DomainIds.Self || domid == caller.Id)
            return 0;
        return caller.Xen.FindDomain(domid) is null ? -XenErrno.ESRCH : -XenErrno.EPERM;
    }

    /// <summary>
    /// guest_handle_subrange_okay for an array of 8-byte elements: elements first..last are
    /// countable and begin at a guest address (Xen checks only where the range starts; each access
    /// then faults on its own).
    /// </summary>
    private static bool SubrangeOk(ulong handle, ulong first, ulong last)
    {
        ulong count = last - first + 1;
        return count < ulong.MaxValue / sizeof(ulong) && GuestPageTables.IsGuestAddress(handle + first * sizeof(ulong));
    }

    private static int Read<T>(IMemoryOpCaller caller, ulong va, out T value) where T : unmanaged
    {
        value = default;
        return caller.CopyFromGuest(va, MemoryMarshal.AsBytes(new Span<T>(ref value)));
    }

    private static int Write<T>(IMemoryOpCaller caller, ulong va, in T value) where T : unmanaged =>
        caller.CopyToGuest(va, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    private sealed class VcpuCaller(Vcpu vcpu) : IMemoryOpCaller
    {
        public Domain Domain => vcpu.Domain;
        public int CopyFromGuest(ulong va, Span<byte> destination) => vcpu.CopyFromGuest(va, destination);
        public int CopyToGuest(ulong va, ReadOnlySpan<byte> source) => vcpu.CopyToGuest(va, source);
        public bool ShouldPreemptHypercall() => vcpu.ShouldPreemptHypercall();
        public void CreateContinuation(in HypercallArguments next) => vcpu.CreateContinuation(next);
    }
}

/// <summary>
/// What memory_op needs of its caller: the calling domain, copies to and from the caller's virtual
/// addresses (0 or -EFAULT), and continuations. A vCPU in the hypervisor; a stand-in in unit tests.
/// </summary>
internal interface IMemoryOpCaller
{
    Domain Domain { get; }
    int CopyFromGuest(ulong va, Span<byte> destination);
    int CopyToGuest(ulong va, ReadOnlySpan<byte> source);
    bool ShouldPreemptHypercall();
    void CreateContinuation(in HypercallArguments next);
}
