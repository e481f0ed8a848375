using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Hypercalls;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xunit;

namespace Xenolith.Tests.Hypercalls;

/// <summary>
/// memory_op against a real hypervisor and domain (KVM is needed to create them), called through a
/// stand-in vCPU whose guest memory is a few pages mapped by hand: the arguments page, two extent
/// lists, a buffer, a hole, then a read-only page.
/// </summary>
public sealed class MemoryOpTests : IDisposable
{
    private const ulong Va = 0x0000_4000_0000_0000;
    private const ulong ArgVa = Va;
    private const ulong ListVa = Va + 0x1000;
    private const ulong OutListVa = Va + 0x2000;
    private const ulong BufferVa = Va + 0x3000;
    private const ulong UnmappedVa = Va + 0x4000;
    private const ulong ReadOnlyVa = Va + 0x5000;
    private const int WritablePages = 4;
    private const ushort Self = DomainIds.Self;

    private readonly XenHypervisor _xen = new(32UL << 20);
    private readonly Domain _domain;
    private readonly FakeCaller _caller;
    private readonly ulong _readOnlyMfn;

    public MemoryOpTests()
    {
        _domain = _xen.CreateDomain("memop", Guid.NewGuid());
        _domain.PopulatePhysmap(64);
        MachineMemory memory = _xen.Memory;
        ulong l4 = memory.Allocate(DomainIds.Xen), l3 = memory.Allocate(DomainIds.Xen);
        ulong l2 = memory.Allocate(DomainIds.Xen), l1 = memory.Allocate(DomainIds.Xen);
        const ulong rw = Pte.Present | Pte.Writable | Pte.User;
        Set(l4, Pte.Index(Va, 4), Pte.Make(l3, rw));
        Set(l3, Pte.Index(Va, 3), Pte.Make(l2, rw));
        Set(l2, Pte.Index(Va, 2), Pte.Make(l1, rw));
        for (int i = 0; i < WritablePages; i++)
            Set(l1, i, Pte.Make(memory.Allocate(DomainIds.Xen), rw));
        _readOnlyMfn = memory.Allocate(DomainIds.Xen);
        Set(l1, WritablePages + 1, Pte.Make(_readOnlyMfn, Pte.Present | Pte.User));
        _caller = new FakeCaller(_domain, _xen.GuestMemory, l4 << MachineMemory.PageShift);
    }

    public void Dispose() => _xen.Dispose();

    private void Set(ulong table, int index, ulong entry) =>
        _xen.Memory.Block.Write((table << MachineMemory.PageShift) + (ulong)index * 8, entry);

    private MachineMemory Memory => _xen.Memory;

    // ---- guest memory ----

    private void Poke<T>(ulong va, T value) where T : unmanaged =>
        Assert.Equal(0, _xen.GuestMemory.WriteGuest(_caller.Cr3, va, value));

    private T Peek<T>(ulong va) where T : unmanaged
    {
        Assert.Equal(0, _xen.GuestMemory.ReadGuest(_caller.Cr3, va, out T value));
        return value;
    }

    private void PokeList(ulong va, params ulong[] values)
    {
        for (int i = 0; i < values.Length; i++)
            Poke(va + (ulong)i * 8, values[i]);
    }

    private ulong[] PeekList(ulong va, int count) => [.. Enumerable.Range(0, count).Select(i => Peek<ulong>(va + (ulong)i * 8))];

    private void PokeReservation(ulong va, ulong list, ulong count, uint order = 0, uint flags = 0, ushort domid = Self) =>
        Poke(va, new MemoryOpHypercall.ReservationArgs { ExtentStart = list, NrExtents = count, ExtentOrder = order, MemFlags = flags, DomainId = domid });

    private long Call(ulong cmd, ulong arg = ArgVa) =>
        MemoryOpHypercall.Execute(_caller, new HypercallArguments((ulong)Hypercall.MemoryOp, cmd, arg, 0, 0, 0));

    private long Reserve(int op, ulong list, params ulong[] extents)
    {
        PokeList(list, extents);
        PokeReservation(ArgVa, list, (ulong)extents.Length);
        return Call((ulong)op);
    }

    private bool OwnedAndAllocated(ulong mfn) =>
        Memory.OwnerOf(mfn) == _domain.Id && Memory.Page(mfn).IsAllocated;

    [KvmFact]
    public void TheHypercallIsRegistered() => Assert.True(_xen.Hypercalls.IsImplemented(Hypercall.MemoryOp));

    // ---- increase_reservation ----

    [KvmFact]
    public void Increase_StopsAtMaxPages_AndReportsMfns()
    {
        ulong total = _domain.TotalPages;
        _domain.MaxPages = total + 3;

        Assert.Equal(3, Reserve(MemoryOp.IncreaseReservation, ListVa, 0, 0, 0, 0, 0));

        Assert.Equal(total + 3, _domain.TotalPages);
        ulong[] list = PeekList(ListVa, 5);
        Assert.All(list[..3], mfn => Assert.True(OwnedAndAllocated(mfn)));
        Assert.All(list[..3], mfn => Assert.Equal(MachineMemory.InvalidPfn, Memory.MachineToPhys(mfn)));
        Assert.Equal(3, list[..3].Distinct().Count());
        Assert.Equal([0UL, 0UL], list[3..]);
    }

    [KvmFact]
    public void Increase_WithoutAList_OfOrderTwo()
    {
        ulong total = _domain.TotalPages;
        _domain.MaxPages = total + 8;
        PokeReservation(ArgVa, list: 0, count: 2, order: 2);

        Assert.Equal(2, Call(MemoryOp.IncreaseReservation));
        Assert.Equal(total + 8, _domain.TotalPages);
    }

    [KvmFact]
    public void Increase_StopsWhenTheMfnCannotBeWritten()
    {
        _domain.MaxPages = _domain.TotalPages + 4;
        ulong total = _domain.TotalPages;
        PokeReservation(ArgVa, ReadOnlyVa, 2);

        Assert.Equal(0, Call(MemoryOp.IncreaseReservation));
        Assert.Equal(total + 1, _domain.TotalPages);   // allocated but not counted as done, as on Xen
    }

    // ---- populate_physmap ----

    [KvmFact]
    public void Populate_SetsTheM2p_AndReturnsTheMfns()
    {
        _domain.MaxPages = _domain.TotalPages + 4;
        PokeList(ListVa, 0x1000, 0x2000);
        PokeReservation(ArgVa, ListVa, 2, order: 1);

        Assert.Equal(2, Call(MemoryOp.PopulatePhysmap));

        ulong[] mfns = PeekList(ListVa, 2);
        foreach ((ulong mfn, ulong gpfn) in mfns.Zip([0x1000UL, 0x2000UL]))
        {
            for (ulong j = 0; j < 2; j++)
            {
                Assert.True(OwnedAndAllocated(mfn + j));
                Assert.Equal(gpfn + j, Memory.MachineToPhys(mfn + j));
            }
        }
    }

    [KvmFact]
    public void Populate_StopsAtAnUnreadableGpfn()
    {
        _domain.MaxPages = _domain.TotalPages + 4;
        ulong total = _domain.TotalPages;
        PokeReservation(ArgVa, UnmappedVa - 8, 2);
        Poke(UnmappedVa - 8, 0x3000UL);

        Assert.Equal(1, Call(MemoryOp.PopulatePhysmap));
        Assert.Equal(total + 1, _domain.TotalPages);
    }

    // ---- decrease_reservation ----

    [KvmFact]
    public void Decrease_GivesFramesBack_ToThePool()
    {
        ulong a = _domain.P2m[10], b = _domain.P2m[11];
        ulong total = _domain.TotalPages, free = Memory.FreeFrames;

        Assert.Equal(2, Reserve(MemoryOp.DecreaseReservation, ListVa, a, b));

        Assert.Equal(total - 2, _domain.TotalPages);
        Assert.Equal(free + 2, Memory.FreeFrames);
        Assert.Equal(DomainIds.Invalid, Memory.OwnerOf(a));
        Assert.Equal(MachineMemory.InvalidPfn, Memory.MachineToPhys(a));

        // Given back already: nothing to do.
        Assert.Equal(0, Reserve(MemoryOp.DecreaseReservation, ListVa, a));
        Assert.Equal(total - 2, _domain.TotalPages);
    }

    [KvmFact]
    public void Decrease_AMappedFrame_StaysUntilUnmapped()
    {
        ulong mfn = _domain.P2m[12];
        lock (Memory.SyncRoot)
            Assert.True(_xen.PageTypes.GetPage(mfn, _domain));

        Assert.Equal(1, Reserve(MemoryOp.DecreaseReservation, ListVa, mfn));
        Assert.Equal(_domain.Id, Memory.OwnerOf(mfn));
        Assert.False(Memory.Page(mfn).IsAllocated);
        Assert.Equal(MachineMemory.InvalidPfn, Memory.MachineToPhys(mfn));

        lock (Memory.SyncRoot)
            _xen.PageTypes.PutPage(mfn);
        Assert.Equal(DomainIds.Invalid, Memory.OwnerOf(mfn));
    }

    [KvmFact]
    public void Decrease_APinnedTable_IsUnpinnedAndFreed()
    {
        ulong mfn = _domain.P2m[13];
        lock (Memory.SyncRoot)
            Assert.Equal(0, _xen.PageTypes.Pin(mfn, FrameType.L1PageTable, _domain));

        Assert.Equal(1, Reserve(MemoryOp.DecreaseReservation, ListVa, mfn));
        Assert.Equal(DomainIds.Invalid, Memory.OwnerOf(mfn));
    }

    [KvmFact]
    public void Decrease_StopsAtAFrameThatIsNotTheCallers()
    {
        using Domain other = _xen.CreateDomain("other", Guid.NewGuid());
        other.PopulatePhysmap(4);
        ulong good = _domain.P2m[14], total = _domain.TotalPages;

        Assert.Equal(1, Reserve(MemoryOp.DecreaseReservation, ListVa, good, other.P2m[0], _domain.P2m[15]));
        Assert.Equal(total - 1, _domain.TotalPages);
        Assert.Equal(other.Id, Memory.OwnerOf(other.P2m[0]));
        Assert.True(OwnedAndAllocated(_domain.P2m[15]));

        Assert.Equal(0, Reserve(MemoryOp.DecreaseReservation, ListVa, _domain.SharedInfoMfn));
        Assert.Equal(_domain.Id, Memory.OwnerOf(_domain.SharedInfoMfn));
        Assert.Equal(0, Reserve(MemoryOp.DecreaseReservation, ListVa, Memory.MachineToPhysFrames[0]));
        Assert.Equal(0, Reserve(MemoryOp.DecreaseReservation, ListVa, Memory.FrameCount));
        Assert.Equal(0, Reserve(MemoryOp.DecreaseReservation, ListVa, ulong.MaxValue));
    }

    [KvmFact]
    public void Decrease_AnExtent_IsAllOrNothing()
    {
        ulong total = _domain.TotalPages;
        // Two consecutive frames, the second of which is not the domain's.
        ulong mfn = _domain.P2m.Max();
        Assert.NotEqual(_domain.Id, Memory.OwnerOf(mfn + 1));
        PokeList(ListVa, mfn);
        PokeReservation(ArgVa, ListVa, 1, order: 1);

        Assert.Equal(0, Call(MemoryOp.DecreaseReservation));
        Assert.Equal(total, _domain.TotalPages);
        Assert.True(OwnedAndAllocated(mfn));
    }

    // ---- refusals common to the three ----

    public static TheoryData<string> Refusals => ["foreign", "missing", "order", "addressBits", "exactNode", "tooMany", "unreadable", "pod"];

    [KvmTheory]
    [MemberData(nameof(Refusals))]
    public void Reservation_Refusals_DoNothing_AndReturnStartExtent(string refusal)
    {
        using Domain other = _xen.CreateDomain("other", Guid.NewGuid());
        _domain.MaxPages = _domain.TotalPages + 64;
        ulong total = _domain.TotalPages;
        PokeList(ListVa, 0x100, 0x101);
        int op = refusal == "pod" ? MemoryOp.PopulatePhysmap : MemoryOp.IncreaseReservation;
        ulong arg = ArgVa;
        switch (refusal)
        {
            case "foreign": PokeReservation(ArgVa, ListVa, 2, domid: other.Id); break;
            case "missing": PokeReservation(ArgVa, ListVa, 2, domid: 0x1234); break;
            case "order": PokeReservation(ArgVa, ListVa, 2, order: 10); break;
            case "addressBits": PokeReservation(ArgVa, ListVa, 2, flags: 12); break;
            case "exactNode": PokeReservation(ArgVa, ListVa, 2, flags: (1 << 8) | MemoryOp.ExactNodeRequest); break;
            case "tooMany": PokeReservation(ArgVa, ListVa, (uint.MaxValue >> 6) + 1UL); break;
            case "unreadable": arg = UnmappedVa; break;
            case "pod": PokeReservation(ArgVa, ListVa, 2, flags: MemoryOp.PopulateOnDemand); break;
        }

        Assert.Equal(0, Call((uint)op, arg));
        Assert.Equal(1, Call((uint)op | (1UL << 6), arg));
        Assert.Equal(total, _domain.TotalPages);
    }

    [KvmFact]
    public void Reservation_NodeHintsAndSelfById_AreAccepted()
    {
        _domain.MaxPages = _domain.TotalPages + 2;
        PokeReservation(ArgVa, ListVa, 1, flags: 1 << 8, domid: _domain.Id);
        Assert.Equal(1, Call(MemoryOp.IncreaseReservation));
        PokeReservation(ArgVa, ListVa, 1, flags: 32);   // address bits above the pool: no limit in effect
        Assert.Equal(1, Call(MemoryOp.IncreaseReservation));
    }

    [KvmFact]
    public void Reservation_StartExtentAtOrPastTheEnd_ReturnsIt()
    {
        PokeReservation(ArgVa, ListVa, 2);
        Assert.Equal(2, Call(MemoryOp.IncreaseReservation | (2UL << 6)));
        Assert.Equal(7, Call(MemoryOp.DecreaseReservation | (7UL << 6)));
    }

    [KvmFact]
    public void Reservation_Yields_WithAContinuationThatResumes()
    {
        _domain.MaxPages = _domain.TotalPages + 4;
        ulong total = _domain.TotalPages;
        PokeList(ListVa, 0x10, 0x11, 0x12, 0x13);
        PokeReservation(ArgVa, ListVa, 4);
        _caller.PreemptAfterChecks = 1;   // the check before extent 1 passes, the one before extent 2 yields

        Assert.Equal(2, Call(MemoryOp.PopulatePhysmap));
        HypercallArguments next = Assert.IsType<HypercallArguments>(_caller.Continuation);
        Assert.Equal(MemoryOp.PopulatePhysmap | (2UL << 6), next.Arg1);
        Assert.Equal(ArgVa, next.Arg2);
        Assert.Equal(total + 2, _domain.TotalPages);

        _caller.PreemptAfterChecks = int.MaxValue;
        Assert.Equal(4, MemoryOpHypercall.Execute(_caller, next));
        Assert.Equal(total + 4, _domain.TotalPages);
        ulong[] mfns = PeekList(ListVa, 4);
        for (int i = 0; i < 4; i++)
            Assert.Equal(0x10UL + (ulong)i, Memory.MachineToPhys(mfns[i]));
    }

    // ---- exchange ----

    private void PokeExchange(ulong inList, ulong inCount, uint inOrder, ulong outList, ulong outCount, uint outOrder,
        ulong exchanged = 0, ushort inDomain = Self, ushort outDomain = Self, uint outFlags = 0) =>
        Poke(ArgVa, new MemoryOpHypercall.ExchangeArgs
        {
            In = new() { ExtentStart = inList, NrExtents = inCount, ExtentOrder = inOrder, DomainId = inDomain },
            Out = new() { ExtentStart = outList, NrExtents = outCount, ExtentOrder = outOrder, DomainId = outDomain, MemFlags = outFlags },
            NrExchanged = exchanged,
        });

    private ulong Exchanged => Peek<ulong>(ArgVa + MemoryOp.ExchangeNrExchangedOffset);

    [KvmFact]
    public void Exchange_SwapsFrames_OneForOne()
    {
        ulong a = _domain.P2m[20], b = _domain.P2m[21], total = _domain.TotalPages;
        PokeList(ListVa, a, b);
        PokeList(OutListVa, 20, 21);
        PokeExchange(ListVa, 2, 0, OutListVa, 2, 0);

        Assert.Equal(0, Call(MemoryOp.Exchange));

        Assert.Equal(2UL, Exchanged);
        ulong[] outputs = PeekList(OutListVa, 2);
        Assert.All(outputs, mfn => Assert.True(OwnedAndAllocated(mfn)));
        // Each frame exchanged goes back to the pool (the first may come straight back as the second chunk's output).
        Assert.DoesNotContain(b, outputs);
        Assert.Equal(DomainIds.Invalid, Memory.OwnerOf(b));
        if (!outputs.Contains(a))
            Assert.Equal(DomainIds.Invalid, Memory.OwnerOf(a));
        Assert.Equal(20UL, Memory.MachineToPhys(outputs[0]));
        Assert.Equal(21UL, Memory.MachineToPhys(outputs[1]));
        Assert.Equal(total, _domain.TotalPages);
    }

    [KvmFact]
    public void Exchange_TwoFrames_ForOneContiguousExtent()
    {
        ulong a = _domain.P2m[22], b = _domain.P2m[30];
        PokeList(ListVa, a, b);
        PokeList(OutListVa, 0x500);
        PokeExchange(ListVa, 2, 0, OutListVa, 1, 1, outFlags: 32);

        Assert.Equal(0, Call(MemoryOp.Exchange));

        Assert.Equal(2UL, Exchanged);
        ulong mfn = Peek<ulong>(OutListVa);
        Assert.Equal(0x500UL, Memory.MachineToPhys(mfn));
        Assert.Equal(0x501UL, Memory.MachineToPhys(mfn + 1));
        Assert.True(OwnedAndAllocated(mfn + 1));
    }

    [KvmFact]
    public void Exchange_AFrameInUse_IsRefused_AndNothingChanges()
    {
        ulong a = _domain.P2m[23], mapped = _domain.P2m[24], free = Memory.FreeFrames;
        lock (Memory.SyncRoot)
            Assert.True(_xen.PageTypes.GetPage(mapped, _domain));
        PokeList(ListVa, mapped, a);
        PokeList(OutListVa, 1, 2);
        PokeExchange(ListVa, 2, 0, OutListVa, 2, 0);

        Assert.Equal(-XenErrno.EINVAL, Call(MemoryOp.Exchange));

        Assert.Equal(0UL, Exchanged);
        Assert.True(OwnedAndAllocated(a));
        Assert.Equal(free, Memory.FreeFrames);
    }

    [KvmFact]
    public void Exchange_FailsPerChunk_KeepingEarlierChunks()
    {
        ulong a = _domain.P2m[25];
        PokeList(ListVa, a, _domain.SharedInfoMfn);
        PokeList(OutListVa, 1, 2);
        PokeExchange(ListVa, 2, 0, OutListVa, 2, 0);

        Assert.Equal(-XenErrno.EINVAL, Call(MemoryOp.Exchange));

        Assert.Equal(1UL, Exchanged);
        Assert.Equal(DomainIds.Invalid, Memory.OwnerOf(a));
        Assert.Equal(_domain.Id, Memory.OwnerOf(_domain.SharedInfoMfn));
    }

    [KvmFact]
    public void Exchange_ListingAFrameTwice_IsRefused()
    {
        ulong a = _domain.P2m[26];
        PokeList(ListVa, a, a);
        PokeExchange(ListVa, 2, 0, OutListVa, 1, 1);

        Assert.Equal(-XenErrno.EINVAL, Call(MemoryOp.Exchange));
        Assert.True(OwnedAndAllocated(a));
    }

    [KvmFact]
    public void Exchange_WhenOutputsCannotBeAllocated_IsEnomem()
    {
        ulong a = _domain.P2m[27], free = Memory.FreeFrames;
        PokeList(ListVa, a);
        PokeExchange(ListVa, 1, 0, OutListVa, 1, 0, outFlags: 13);   // below 8 KiB: frames 0 and 1, never free

        Assert.Equal(-XenErrno.ENOMEM, Call(MemoryOp.Exchange));
        Assert.Equal(0UL, Exchanged);
        Assert.True(OwnedAndAllocated(a));
        Assert.Equal(free, Memory.FreeFrames);
    }

    [KvmFact]
    public void Exchange_ResumesFromNrExchanged()
    {
        ulong a = _domain.P2m[28], b = _domain.P2m[29];
        PokeList(ListVa, 0xdead, b);
        PokeList(OutListVa, 7, 8);
        PokeExchange(ListVa, 2, 0, OutListVa, 2, 0, exchanged: 1);

        Assert.Equal(0, Call(MemoryOp.Exchange));
        Assert.Equal(2UL, Exchanged);
        Assert.True(OwnedAndAllocated(a));
        Assert.Equal(DomainIds.Invalid, Memory.OwnerOf(b));
        Assert.Equal(8UL, Memory.MachineToPhys(Peek<ulong>(OutListVa + 8)));
    }

    [KvmFact]
    public void Exchange_Yields_AndTheContinuationFinishes()
    {
        ulong a = _domain.P2m[31], b = _domain.P2m[32];
        PokeList(ListVa, a, b);
        PokeList(OutListVa, 1, 2);
        PokeExchange(ListVa, 2, 0, OutListVa, 2, 0);
        _caller.PreemptAfterChecks = 0;

        Assert.Equal(0, Call(MemoryOp.Exchange));
        Assert.Equal(1UL, Exchanged);
        HypercallArguments next = Assert.IsType<HypercallArguments>(_caller.Continuation);
        Assert.Equal((ulong)MemoryOp.Exchange, next.Arg1);

        Assert.Equal(0, MemoryOpHypercall.Execute(_caller, next));
        Assert.Equal(2UL, Exchanged);
        Assert.Equal(DomainIds.Invalid, Memory.OwnerOf(b));
    }

    public static TheoryData<string, int> ExchangeErrors => new()
    {
        { "order", -XenErrno.EPERM },
        { "sizes", -XenErrno.EINVAL },
        { "domids", -XenErrno.EINVAL },
        { "exchanged", -XenErrno.EINVAL },
        { "foreign", -XenErrno.EPERM },
        { "missing", -XenErrno.ESRCH },
        { "list", -XenErrno.EFAULT },
        { "exactNode", -XenErrno.EINVAL },
    };

    [KvmTheory]
    [MemberData(nameof(ExchangeErrors))]
    public void Exchange_Errors(string error, int expected)
    {
        using Domain other = _xen.CreateDomain("other", Guid.NewGuid());
        ulong a = _domain.P2m[33];
        PokeList(ListVa, a);
        switch (error)
        {
            case "order": PokeExchange(ListVa, 1, 10, OutListVa, 1, 10); break;
            case "sizes": PokeExchange(ListVa, 1, 0, OutListVa, 2, 0); break;
            case "domids": PokeExchange(ListVa, 1, 0, OutListVa, 1, 0, outDomain: _domain.Id); break;
            case "exchanged": PokeExchange(ListVa, 1, 0, OutListVa, 1, 0, exchanged: 2); break;
            case "foreign": PokeExchange(ListVa, 1, 0, OutListVa, 1, 0, inDomain: other.Id, outDomain: other.Id); break;
            case "missing": PokeExchange(ListVa, 1, 0, OutListVa, 1, 0, inDomain: 0x1234, outDomain: 0x1234); break;
            case "list": PokeExchange(0xffff_8000_0000_0000, 1, 0, OutListVa, 1, 0); break;
            case "exactNode": PokeExchange(ListVa, 1, 0, OutListVa, 1, 0, outFlags: (1 << 8) | MemoryOp.ExactNodeRequest); break;
        }

        Assert.Equal(expected, Call(MemoryOp.Exchange));
        Assert.True(OwnedAndAllocated(a));
        Assert.Equal(-XenErrno.EINVAL, Call(MemoryOp.Exchange | (1UL << 6)));
    }

    [KvmFact]
    public void Exchange_UnreadableOrUnwritable_IsEfault()
    {
        Assert.Equal(-XenErrno.EFAULT, Call(MemoryOp.Exchange, UnmappedVa));
        // Refused (-EPERM), and nr_exchanged cannot be written back.
        Memory.Block.Write(_readOnlyMfn << MachineMemory.PageShift,
            new MemoryOpHypercall.ExchangeArgs { In = new() { NrExtents = 1, ExtentOrder = 10 } });
        Assert.Equal(-XenErrno.EFAULT, Call(MemoryOp.Exchange, ReadOnlyVa));
    }

    // ---- queries ----

    [KvmFact]
    public void Queries_ReportTheReservation()
    {
        _domain.MaxPages = 100;
        Poke(BufferVa, Self);
        Assert.Equal((long)Memory.FrameCount, Call(MemoryOp.MaximumRamPage, 0));
        Assert.Equal(64, Call(MemoryOp.CurrentReservation, BufferVa));
        Assert.Equal(100, Call(MemoryOp.MaximumReservation, BufferVa));
        Poke(BufferVa, _domain.Id);
        Assert.Equal(64, Call(MemoryOp.CurrentReservation, BufferVa));
    }

    [KvmFact]
    public void MaximumGpfn_IsWhatTheGuestPublishedInSharedInfo()
    {
        Poke(BufferVa, Self);
        ulong maxPfn = (_domain.SharedInfoMfn << MachineMemory.PageShift) + MemoryOp.SharedInfoMaxPfnOffset;
        Assert.Equal(0, Call(MemoryOp.MaximumGpfn, BufferVa));
        Memory.Block.Write(maxPfn, 0x4000UL);
        Assert.Equal(0x3fff, Call(MemoryOp.MaximumGpfn, BufferVa));
    }

    [KvmFact]
    public void Queries_Errors()
    {
        using Domain other = _xen.CreateDomain("other", Guid.NewGuid());
        Poke(BufferVa, other.Id);
        Assert.Equal(-XenErrno.EPERM, Call(MemoryOp.CurrentReservation, BufferVa));
        Assert.Equal(-XenErrno.EPERM, Call(MemoryOp.MaximumGpfn, BufferVa));
        Poke(BufferVa, (ushort)0x1234);
        Assert.Equal(-XenErrno.ESRCH, Call(MemoryOp.MaximumReservation, BufferVa));
        Poke(BufferVa, DomainIds.Io);
        Assert.Equal(-XenErrno.ESRCH, Call(MemoryOp.MaximumReservation, BufferVa));
        Assert.Equal(-XenErrno.EFAULT, Call(MemoryOp.CurrentReservation, UnmappedVa));
        Assert.Equal(-XenErrno.EINVAL, Call(MemoryOp.CurrentReservation | (1UL << 6), BufferVa));
        Assert.Equal(-XenErrno.EINVAL, Call(MemoryOp.MaximumRamPage | (1UL << 6), BufferVa));
    }

    [KvmFact]
    public void MachphysMapping_PointsAtTheReadOnlyM2p()
    {
        Assert.Equal(0, Call(MemoryOp.MachphysMapping, BufferVa));
        var mapping = Peek<MemoryOpHypercall.MachphysMappingArgs>(BufferVa);
        Assert.Equal(HypervisorLayout.M2pBase, mapping.VStart);
        Assert.Equal(HypervisorLayout.M2pBase + (2UL << 20), mapping.VEnd);   // 8192 frames: 64 KiB of table
        Assert.Equal(Memory.FrameCount - 1, mapping.MaxMfn);

        Assert.Equal(-XenErrno.EFAULT, Call(MemoryOp.MachphysMapping, ReadOnlyVa));
        Assert.Equal(-XenErrno.ENOSYS, Call(MemoryOp.MachphysMapping | (1UL << 6), BufferVa));
    }

    [KvmFact]
    public void MachphysMfnList_ReportsTheFirstFrameOfEach2MiB()
    {
        Poke(ArgVa, new MemoryOpHypercall.MfnListArgs { MaxExtents = 4, ExtentStart = ListVa, NrExtents = 99 });
        Assert.Equal(0, Call(MemoryOp.MachphysMfnList));
        Assert.Equal(1u, Peek<MemoryOpHypercall.MfnListArgs>(ArgVa).NrExtents);
        Assert.Equal(Memory.MachineToPhysFrames[0], Peek<ulong>(ListVa));

        Poke(ArgVa, new MemoryOpHypercall.MfnListArgs { MaxExtents = 0, ExtentStart = UnmappedVa, NrExtents = 99 });
        Assert.Equal(0, Call(MemoryOp.MachphysMfnList));
        Assert.Equal(0u, Peek<MemoryOpHypercall.MfnListArgs>(ArgVa).NrExtents);

        Poke(ArgVa, new MemoryOpHypercall.MfnListArgs { MaxExtents = 1, ExtentStart = UnmappedVa });
        Assert.Equal(-XenErrno.EFAULT, Call(MemoryOp.MachphysMfnList));
    }

    // ---- e820 ----

    [KvmFact]
    public void MemoryMap_WithoutOne_IsEnosys()
    {
        Poke(ArgVa, new MemoryOpHypercall.MemoryMapArgs { NrEntries = 8, Buffer = BufferVa });
        Assert.Equal(-XenErrno.ENOSYS, Call(MemoryOp.MemoryMap));
    }

    [KvmFact]
    public void MemoryMap_CopiesAsManyEntriesAsFit()
    {
        _domain.MemoryMap = [new E820Entry(0, 0x9f000, E820Entry.Ram), new E820Entry(0x100000, 0x300000, E820Entry.Reserved)];

        Poke(ArgVa, new MemoryOpHypercall.MemoryMapArgs { NrEntries = 8, Buffer = BufferVa });
        Assert.Equal(0, Call(MemoryOp.MemoryMap));
        Assert.Equal(2u, Peek<MemoryOpHypercall.MemoryMapArgs>(ArgVa).NrEntries);
        var bytes = new byte[40];
        _xen.GuestMemory.CopyFromGuest(_caller.Cr3, BufferVa, bytes);
        Assert.Equal(0x9f000UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(8)));
        Assert.Equal(E820Entry.Ram, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(16)));
        Assert.Equal(0x100000UL, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(20)));
        Assert.Equal(E820Entry.Reserved, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(36)));

        Poke(ArgVa, new MemoryOpHypercall.MemoryMapArgs { NrEntries = 1, Buffer = ListVa });
        Assert.Equal(0, Call(MemoryOp.MemoryMap));
        Assert.Equal(1u, Peek<MemoryOpHypercall.MemoryMapArgs>(ArgVa).NrEntries);
        Assert.Equal(0UL, Peek<ulong>(ListVa + 20));   // nothing past the one entry asked for

        Poke(ArgVa, new MemoryOpHypercall.MemoryMapArgs { NrEntries = 2, Buffer = ReadOnlyVa });
        Assert.Equal(-XenErrno.EFAULT, Call(MemoryOp.MemoryMap));
        Assert.Equal(-XenErrno.EFAULT, Call(MemoryOp.MemoryMap, UnmappedVa));
    }

    [KvmFact]
    public void SetMemoryMap_OwnMapIsAccepted_OthersAreNot()
    {
        var record = new byte[MemoryOp.E820EntrySize];
        BinaryPrimitives.WriteUInt64LittleEndian(record, 0x1000);
        BinaryPrimitives.WriteUInt64LittleEndian(record.AsSpan(8), 0x2000);
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(16), E820Entry.Ram);
        Assert.Equal(0, _xen.GuestMemory.CopyToGuest(_caller.Cr3, BufferVa, record));
        var map = new MemoryOpHypercall.ForeignMemoryMapArgs { DomainId = Self, Map = new() { NrEntries = 1, Buffer = BufferVa } };
        Poke(ArgVa, map);

        Assert.Equal(0, Call(MemoryOp.SetMemoryMap));
        Assert.Equal(new[] { new E820Entry(0x1000, 0x2000, E820Entry.Ram) }, _domain.MemoryMap.ToArray());

        using Domain other = _xen.CreateDomain("other", Guid.NewGuid());
        Poke(ArgVa, map with { DomainId = other.Id });
        Assert.Equal(-XenErrno.EPERM, Call(MemoryOp.SetMemoryMap));
        Poke(ArgVa, map with { Map = new() { NrEntries = MemoryOp.E820Max + 1, Buffer = BufferVa } });
        Assert.Equal(-XenErrno.EINVAL, Call(MemoryOp.SetMemoryMap));
        Poke(ArgVa, map with { Map = new() { NrEntries = 1, Buffer = UnmappedVa } });
        Assert.Equal(-XenErrno.EFAULT, Call(MemoryOp.SetMemoryMap));
    }

    [KvmTheory]
    [InlineData((ulong)MemoryOp.MachineMemoryMap, -XenErrno.EPERM)]
    [InlineData((ulong)MemoryOp.AddToPhysmap, -XenErrno.ENOSYS)]
    [InlineData(8UL, -XenErrno.ENOSYS)]
    [InlineData(63UL, -XenErrno.ENOSYS)]
    [InlineData(MemoryOp.MemoryMap | (1UL << 6), -XenErrno.ENOSYS)]
    public void OtherOps(ulong cmd, int expected) => Assert.Equal(expected, Call(cmd));

    /// <summary>A vCPU as memory_op sees it, over hand-built page tables, with preemption on demand.</summary>
    private sealed class FakeCaller(Domain domain, GuestPageTables memory, ulong cr3) : IMemoryOpCaller
    {
        private int _checks;

        public ulong Cr3 => cr3;

        /// <summary>ShouldPreemptHypercall says yes once it has been asked more than this many times.</summary>
        public int PreemptAfterChecks { get; set; } = int.MaxValue;

        public HypercallArguments? Continuation { get; private set; }

        public Domain Domain => domain;

        public int CopyFromGuest(ulong va, Span<byte> destination) => memory.CopyFromGuest(cr3, va, destination);

        public int CopyToGuest(ulong va, ReadOnlySpan<byte> source) => memory.CopyToGuest(cr3, va, source);

        public bool ShouldPreemptHypercall() => ++_checks > PreemptAfterChecks;

        public void CreateContinuation(in HypercallArguments next) => Continuation = next;
    }
}

/// <summary>The structures memory_op reads and writes have the x86-64 layout of Xen's public headers.</summary>
public sealed class MemoryOpLayoutTests
{
    [Fact]
    public void Structures_HaveXensSizes()
    {
        Assert.Equal(MemoryOp.ReservationSize, Marshal.SizeOf<MemoryOpHypercall.ReservationArgs>());
        Assert.Equal(MemoryOp.ExchangeSize, Marshal.SizeOf<MemoryOpHypercall.ExchangeArgs>());
        Assert.Equal(MemoryOp.ExchangeOutOffset, (int)Marshal.OffsetOf<MemoryOpHypercall.ExchangeArgs>(nameof(MemoryOpHypercall.ExchangeArgs.Out)));
        Assert.Equal(MemoryOp.ExchangeNrExchangedOffset, (int)Marshal.OffsetOf<MemoryOpHypercall.ExchangeArgs>(nameof(MemoryOpHypercall.ExchangeArgs.NrExchanged)));
        Assert.Equal(24, (int)Marshal.OffsetOf<MemoryOpHypercall.ReservationArgs>(nameof(MemoryOpHypercall.ReservationArgs.DomainId)));
        Assert.Equal(MemoryOp.MachphysMfnListSize, Marshal.SizeOf<MemoryOpHypercall.MfnListArgs>());
        Assert.Equal(16, (int)Marshal.OffsetOf<MemoryOpHypercall.MfnListArgs>(nameof(MemoryOpHypercall.MfnListArgs.NrExtents)));
        Assert.Equal(MemoryOp.MachphysMappingSize, Marshal.SizeOf<MemoryOpHypercall.MachphysMappingArgs>());
        Assert.Equal(MemoryOp.MemoryMapSize, Marshal.SizeOf<MemoryOpHypercall.MemoryMapArgs>());
        Assert.Equal(MemoryOp.ForeignMemoryMapSize, Marshal.SizeOf<MemoryOpHypercall.ForeignMemoryMapArgs>());
    }
}
