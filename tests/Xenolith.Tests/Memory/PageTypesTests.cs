using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Memory;
using Xunit;

namespace Xenolith.Tests.Memory;

/// <summary>
/// Xen's page types and reference counts (get_page_type, pinning, mod_lN_entry, linear page tables,
/// decrease_reservation) as <see cref="PageTypes"/> keeps them. Every test ends with the invariant
/// checker recomputing all counts from the validated tables' contents.
/// </summary>
public sealed class PageTypesTests : IDisposable
{
    private const ulong P = Pte.Present;
    private const ulong RW = Pte.Writable;
    private const ulong US = Pte.User;
    private const ulong A = Pte.Accessed;
    private const ulong D = Pte.Dirty;
    private const ulong G = Pte.Global;
    private const ulong NX = Pte.NoExecute;
    private const ulong GuestKernel = 1UL << 52;

    private readonly MachineMemory _memory = new(1UL << 20);
    private readonly PageTypes _types;
    private readonly FakePageTableOwner _a = new(1);
    private readonly FakePageTableOwner _b = new(2);
    private readonly PageTypeInvariantChecker _checker;

    public PageTypesTests()
    {
        _types = new PageTypes(_memory);
        _checker = new PageTypeInvariantChecker(_memory);
    }

    public void Dispose()
    {
        _checker.Check("at the end of the test");
        _memory.Dispose();
    }

    // ---- helpers ----

    private ulong Alloc(FakePageTableOwner owner) => _memory.Allocate(owner.Id);

    private Span<ulong> Entries(ulong mfn) => MemoryMarshal.Cast<byte, ulong>(_memory.Frame(mfn));

    private static ulong Address(ulong mfn, int index) => (mfn << MachineMemory.PageShift) + (ulong)index * sizeof(ulong);

    private ref PageInfo Page(ulong mfn) => ref _memory.Page(mfn);

    private (uint Ref, uint Type) Counts(ulong mfn) => (Page(mfn).RefCount, Page(mfn).TypeCount);

    private int Pin(ulong mfn, int level, FakePageTableOwner owner)
    {
        lock (_memory.SyncRoot)
            return _types.Pin(mfn, PageTableRules.TableType(level), owner);
    }

    private int Unpin(ulong mfn, FakePageTableOwner owner)
    {
        lock (_memory.SyncRoot)
            return _types.Unpin(mfn, owner);
    }

    private int Update(ulong table, int index, ulong value, FakePageTableOwner owner, bool preserveAd = false)
    {
        lock (_memory.SyncRoot)
            return _types.UpdateEntry(Address(table, index), value, preserveAd, owner);
    }

    private int Release(ulong mfn, FakePageTableOwner owner)
    {
        lock (_memory.SyncRoot)
            return _types.ReleaseAllocation(mfn, owner);
    }

    /// <summary>Owner, flags and every count of every frame: what a refused operation must leave alone.</summary>
    private (ushort, FrameType, PageFlags, uint, uint, ushort, ushort)[] Snapshot()
    {
        var all = new (ushort, FrameType, PageFlags, uint, uint, ushort, ushort)[_memory.FrameCount];
        for (ulong mfn = 0; mfn < _memory.FrameCount; mfn++)
        {
            PageInfo p = _memory.Page(mfn);
            all[mfn] = (p.Owner, _memory.TypeOf(mfn), p.Flags, p.RefCount, p.TypeCount, p.LinearEntries, p.LinearUses);
        }
        return all;
    }

    /// <summary>L4[0] -> L3[0] -> L2[0] -> L1, whose [0] maps Data writable and [1] maps ReadOnly.</summary>
    private (ulong L4, ulong L3, ulong L2, ulong L1, ulong Data, ulong ReadOnly) Tree(FakePageTableOwner owner)
    {
        ulong l4 = Alloc(owner), l3 = Alloc(owner), l2 = Alloc(owner), l1 = Alloc(owner);
        ulong data = Alloc(owner), readOnly = Alloc(owner);
        Entries(l4)[0] = Pte.Make(l3, P | RW);
        Entries(l3)[0] = Pte.Make(l2, P | RW);
        Entries(l2)[0] = Pte.Make(l1, P | RW);
        Entries(l1)[0] = Pte.Make(data, P | RW);
        Entries(l1)[1] = Pte.Make(readOnly, P);
        return (l4, l3, l2, l1, data, readOnly);
    }

    // ---- pinning and validation ----

    [Fact]
    public void PinL1_WritableTargetsBecomeWritable_AndTypeCountCountsMappings()
    {
        ulong l1 = Alloc(_a), rw = Alloc(_a), ro = Alloc(_a);
        Entries(l1)[0] = Pte.Make(rw, P | RW);
        Entries(l1)[1] = Pte.Make(rw, P | RW);
        Entries(l1)[2] = Pte.Make(rw, P);
        Entries(l1)[3] = Pte.Make(ro, P);
        Entries(l1)[4] = Pte.Make(ro, RW);   // not present: holds nothing

        Assert.Equal(0, Pin(l1, 1, _a));

        Assert.Equal(FrameType.L1PageTable, _memory.TypeOf(l1));
        Assert.True(Page(l1).IsPinned && Page(l1).IsValidated);
        Assert.Equal((2u, 1u), Counts(l1));                 // allocation + pin
        Assert.Equal(FrameType.Writable, _memory.TypeOf(rw));
        Assert.Equal((4u, 2u), Counts(rw));                 // allocation + 3 mappings; 2 of them writable
        Assert.Equal(FrameType.None, _memory.TypeOf(ro));
        Assert.Equal((2u, 0u), Counts(ro));
    }

    [Fact]
    public void PinL4_ValidatesRecursively()
    {
        var t = Tree(_a);

        Assert.Equal(0, Pin(t.L4, 4, _a));

        Assert.Equal(FrameType.L4PageTable, _memory.TypeOf(t.L4));
        Assert.Equal(FrameType.L3PageTable, _memory.TypeOf(t.L3));
        Assert.Equal(FrameType.L2PageTable, _memory.TypeOf(t.L2));
        Assert.Equal(FrameType.L1PageTable, _memory.TypeOf(t.L1));
        Assert.Equal(FrameType.Writable, _memory.TypeOf(t.Data));
        foreach (ulong table in new[] { t.L4, t.L3, t.L2, t.L1 })
        {
            Assert.True(Page(table).IsValidated);
            Assert.Equal((2u, 1u), Counts(table));           // allocation + the pin or the parent's entry
        }
        Assert.True(Page(t.L4).IsPinned);
        Assert.False(Page(t.L3).IsPinned);
        Assert.Equal((2u, 1u), Counts(t.Data));
        Assert.Equal((2u, 0u), Counts(t.ReadOnly));
        Assert.Equal(1, _a.HypervisorSlotWrites);
    }

    [Fact]
    public void PinTwice_IsEinval_AndTakesNothing()
    {
        var t = Tree(_a);
        Assert.Equal(0, Pin(t.L4, 4, _a));
        var before = Snapshot();

        Assert.Equal(-XenErrno.EINVAL, Pin(t.L4, 4, _a));
        Assert.Equal(-XenErrno.EINVAL, Pin(t.L4, 3, _a));   // and it is no L3 while it is a live L4

        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void PinningATableTheParentAlreadyValidated_OnlyAddsThePin()
    {
        var t = Tree(_a);
        Assert.Equal(0, Pin(t.L4, 4, _a));

        Assert.Equal(0, Pin(t.L2, 2, _a));

        Assert.Equal((3u, 2u), Counts(t.L2));
        Assert.Equal((2u, 1u), Counts(t.L1));               // not validated a second time
    }

    [Fact]
    public void Unpin_NotPinned_IsEinval()
    {
        var t = Tree(_a);
        ulong plain = Alloc(_a);
        Assert.Equal(-XenErrno.EINVAL, Unpin(plain, _a));
        Assert.Equal(-XenErrno.EINVAL, Unpin(t.L4, _a));

        Assert.Equal(0, Pin(t.L4, 4, _a));
        var before = Snapshot();
        Assert.Equal(-XenErrno.EINVAL, Unpin(t.L3, _a));     // live, but only through its parent
        Assert.Equal(-XenErrno.EINVAL, Unpin(t.L4, _b));     // someone else's
        Assert.Equal(-XenErrno.EINVAL, Unpin(_memory.FrameCount + 1, _a));
        Assert.Equal(before, Snapshot());

        Assert.Equal(0, Unpin(t.L4, _a));
        Assert.Equal(-XenErrno.EINVAL, Unpin(t.L4, _a));     // unpinning twice
    }

    [Fact]
    public void Unpin_DevalidatesRecursively_AndRestoresEveryCount()
    {
        var t = Tree(_a);
        Assert.Equal(0, Pin(t.L4, 4, _a));
        _a.ClearRecords();

        Assert.Equal(0, Unpin(t.L4, _a));

        foreach (ulong mfn in new[] { t.L4, t.L3, t.L2, t.L1, t.Data, t.ReadOnly })
        {
            Assert.Equal((1u, 0u), Counts(mfn));            // the allocation only
            Assert.Equal(FrameType.None, _memory.TypeOf(mfn));
            Assert.Equal(PageFlags.Allocated, Page(mfn).Flags);
        }
        Assert.Equal(new[] { t.L1, t.L2, t.L3, t.L4 }.Order(), _a.ShadowDrops.Order());
        Assert.Empty(_a.ShadowSyncs);
    }

    [Fact]
    public void L1MappingAForeignFrame_IsEbusy_AndChangesNoCount()
    {
        ulong l1 = Alloc(_a), mine = Alloc(_a), theirs = Alloc(_b);
        Entries(l1)[0] = Pte.Make(mine, P | RW);
        Entries(l1)[1] = Pte.Make(mine, P);
        Entries(l1)[2] = Pte.Make(theirs, P);
        var before = Snapshot();

        Assert.Equal(-XenErrno.EBUSY, Pin(l1, 1, _a));

        Assert.Equal(before, Snapshot());
        Assert.Empty(_a.ShadowDrops);
        Assert.Equal(0, Pin(theirs, 1, _b));                 // B's frame took no stray type from A's attempt
    }

    [Fact]
    public void FailureDeepInTheTree_PropagatesUnchanged_AndChangesNoCount()
    {
        var t = Tree(_a);
        ulong theirs = Alloc(_b);
        Entries(t.L1)[7] = Pte.Make(theirs, P);
        var before = Snapshot();

        Assert.Equal(-XenErrno.EBUSY, Pin(t.L4, 4, _a));

        Assert.Equal(before, Snapshot());
        Assert.Equal(0, _a.HypervisorSlotWrites);
    }

    [Fact]
    public void L1MappingAFreeOrXenFrame_IsEbusy()
    {
        ulong l1 = Alloc(_a);
        ulong free = Alloc(_a);
        Assert.Equal(0, Release(free, _a));
        Entries(l1)[0] = Pte.Make(free, P);
        Assert.Equal(-XenErrno.EBUSY, Pin(l1, 1, _a));

        Entries(l1)[0] = Pte.Make(0, P);                     // frame 0 belongs to Xen
        Assert.Equal(-XenErrno.EBUSY, Pin(l1, 1, _a));
    }

    [Fact]
    public void L1MappingPastMachineMemory_IsEperm()
    {
        ulong l1 = Alloc(_a);
        Entries(l1)[0] = Pte.Make(_memory.FrameCount + 5, P);
        Assert.Equal(-XenErrno.EPERM, Pin(l1, 1, _a));
    }

    [Fact]
    public void UpperEntryToAForeignFrame_IsEinval()
    {
        ulong l2 = Alloc(_a), theirs = Alloc(_b);
        Entries(l2)[0] = Pte.Make(theirs, P);
        var before = Snapshot();
        Assert.Equal(-XenErrno.EINVAL, Pin(l2, 2, _a));
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void WritableMappingOfALiveTable_IsEbusy()
    {
        ulong table = Alloc(_a), l1 = Alloc(_a), other = Alloc(_a);
        Assert.Equal(0, Pin(table, 1, _a));
        Entries(l1)[0] = Pte.Make(table, P | RW);
        var before = Snapshot();

        Assert.Equal(-XenErrno.EBUSY, Pin(l1, 1, _a));
        Assert.Equal(before, Snapshot());

        // The same through a live L1; read-only is fine.
        Assert.Equal(0, Pin(other, 1, _a));
        Assert.Equal(-XenErrno.EBUSY, Update(other, 0, Pte.Make(table, P | RW), _a));
        Assert.Equal(0UL, Entries(other)[0]);
        Assert.Equal(0, Update(other, 0, Pte.Make(table, P), _a));
        Assert.Equal((3u, 1u), Counts(table));
    }

    [Fact]
    public void L1MappingItselfWritable_IsEbusy_ButReadOnlyIsFine()
    {
        ulong l1 = Alloc(_a);
        Entries(l1)[0] = Pte.Make(l1, P | RW);
        Assert.Equal(-XenErrno.EBUSY, Pin(l1, 1, _a));

        Entries(l1)[0] = Pte.Make(l1, P);
        Assert.Equal(0, Pin(l1, 1, _a));
        Assert.Equal((3u, 1u), Counts(l1));                  // allocation + pin + its own mapping
    }

    [Fact]
    public void FrameWithLiveWritableMappings_CannotBecomeATable()
    {
        ulong l1 = Alloc(_a), frame = Alloc(_a), l2 = Alloc(_a);
        Entries(l1)[0] = Pte.Make(frame, P | RW);
        Assert.Equal(0, Pin(l1, 1, _a));
        var before = Snapshot();

        for (int level = 1; level <= 4; level++)
            Assert.Equal(-XenErrno.EINVAL, Pin(frame, level, _a));

        // Nor as the target of an L2's entry.
        Entries(l2)[0] = Pte.Make(frame, P);
        Assert.Equal(-XenErrno.EINVAL, Pin(l2, 2, _a));
        Assert.Equal(before, Snapshot());

        // Once the writable mapping goes, it can.
        Assert.Equal(0, Update(l1, 0, 0, _a));
        Assert.Equal(0, Pin(frame, 1, _a));
    }

    [Theory]
    [InlineData(PageTableRules.Pwt)]
    [InlineData(PageTableRules.Pcd)]
    [InlineData(PageTableRules.Pat4K)]
    public void L1CacheAttributeBits_AreEinval(ulong bit)
    {
        ulong l1 = Alloc(_a), data = Alloc(_a), live = Alloc(_a);
        Entries(l1)[0] = Pte.Make(data, P | RW);
        Entries(l1)[1] = Pte.Make(data, P | bit);
        var before = Snapshot();
        Assert.Equal(-XenErrno.EINVAL, Pin(l1, 1, _a));
        Assert.Equal(before, Snapshot());

        Assert.Equal(0, Pin(live, 1, _a));
        Assert.Equal(-XenErrno.EINVAL, Update(live, 0, Pte.Make(data, P | bit), _a));
        Assert.Equal(0UL, Entries(live)[0]);
        Assert.Equal(0, Update(live, 0, Pte.Make(data, bit), _a));   // not present: no checks at all
        Assert.Equal(Pte.Make(data, bit), Entries(live)[0]);
    }

    [Fact]
    public void L1GlobalBit_IsAllowed()
    {
        ulong l1 = Alloc(_a), data = Alloc(_a);
        Entries(l1)[0] = Pte.Make(data, P | G);
        Assert.Equal(0, Pin(l1, 1, _a));
    }

    [Theory]
    [InlineData(2, Pte.LargePage)]
    [InlineData(3, Pte.LargePage)]
    [InlineData(2, PageTableRules.Pwt)]
    [InlineData(3, PageTableRules.Pcd)]
    [InlineData(4, Pte.Global)]
    [InlineData(4, Pte.LargePage)]
    [InlineData(2, Pte.Global)]
    public void UpperDisallowedBits_AreEinval(int level, ulong bit)
    {
        ulong table = Alloc(_a), lower = Alloc(_a), live = Alloc(_a);
        Entries(table)[0] = Pte.Make(lower, P | bit);
        Assert.Equal(-XenErrno.EINVAL, Pin(table, level, _a));
        Assert.Equal((1u, 0u), Counts(lower));

        Assert.Equal(0, Pin(live, level, _a));
        Assert.Equal(-XenErrno.EINVAL, Update(live, 0, Pte.Make(lower, P | bit), _a));
        Assert.Equal(0UL, Entries(live)[0]);
        Assert.Equal((1u, 0u), Counts(lower));
    }

    // ---- the hypervisor's L4 slots ----

    [Fact]
    public void PinL4_OverwritesTheHypervisorSlots_WithoutCheckingThem()
    {
        ulong l4 = Alloc(_a), theirs = Alloc(_b);
        for (int slot = 256; slot < 272; slot++)
            Entries(l4)[slot] = Pte.Make(theirs, P | RW | PageTableRules.Pcd);
        Entries(l4)[255] = Pte.Make(l4, P);
        Entries(l4)[272] = Pte.Make(l4, P);

        Assert.Equal(0, Pin(l4, 4, _a));

        for (int slot = 256; slot < 272; slot++)
            Assert.Equal(FakePageTableOwner.HypervisorSlotMarker(slot), Entries(l4)[slot]);
        Assert.Equal(Pte.Make(l4, P | A | US), Entries(l4)[255]);
        Assert.Equal(Pte.Make(l4, P | A | US), Entries(l4)[272]);
        Assert.Equal((1u, 0u), Counts(theirs));
    }

    [Theory]
    [InlineData(256)]
    [InlineData(258)]
    [InlineData(271)]
    public void ModifyingAHypervisorSlot_IsEinval_EvenToNotPresent(int slot)
    {
        ulong l4 = Alloc(_a), l3 = Alloc(_a);
        Assert.Equal(0, Pin(l4, 4, _a));

        Assert.Equal(-XenErrno.EINVAL, Update(l4, slot, 0, _a));
        Assert.Equal(-XenErrno.EINVAL, Update(l4, slot, Pte.Make(l3, P), _a));
        Assert.Equal(-XenErrno.EINVAL, Update(l4, slot, FakePageTableOwner.HypervisorSlotMarker(slot), _a));
        Assert.Equal(FakePageTableOwner.HypervisorSlotMarker(slot), Entries(l4)[slot]);
        Assert.Equal((1u, 0u), Counts(l3));
        lock (_memory.SyncRoot)
            Assert.Equal(-XenErrno.EINVAL, _types.ModifyEntry(l4, slot, 0, 4, false, _a));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(255)]
    [InlineData(272)]
    [InlineData(511)]
    public void GuestL4Slots_CanBeModified(int slot)
    {
        ulong l4 = Alloc(_a), l3 = Alloc(_a);
        Assert.Equal(0, Pin(l4, 4, _a));
        Assert.Equal(0, Update(l4, slot, Pte.Make(l3, P | RW), _a));
        Assert.Equal(FrameType.L3PageTable, _memory.TypeOf(l3));
        Assert.Equal(0, Update(l4, slot, 0, _a));
        Assert.Equal((1u, 0u), Counts(l3));
    }

    // ---- adjust_guest_lNe ----

    [Theory]
    [InlineData(1, P, P | US | GuestKernel)]                        // kernel mapping
    [InlineData(1, P | RW | A | D, P | RW | A | D | US | GuestKernel)]
    [InlineData(1, P | US, P | US | G)]                             // user mapping gets Global
    [InlineData(1, P | US | NX, P | US | G | NX)]
    [InlineData(1, P | GuestKernel, P | US | GuestKernel)]
    [InlineData(2, P, P | US)]
    [InlineData(2, P | RW | A, P | RW | A | US)]
    [InlineData(3, P | RW, P | RW | US)]
    [InlineData(4, P, P | A | US)]
    [InlineData(4, P | RW | NX, P | RW | NX | A | US)]
    public void Entries_AreAdjusted_BothOnValidationAndOnUpdate(int level, ulong flags, ulong adjusted)
    {
        ulong table = Alloc(_a), target = Alloc(_a), live = Alloc(_a);
        Entries(table)[3] = Pte.Make(target, flags);
        Assert.Equal(0, Pin(table, level, _a));
        Assert.Equal(Pte.Make(target, adjusted), Entries(table)[3]);

        Assert.Equal(0, Pin(live, level, _a));
        Assert.Equal(0, Update(live, 9, Pte.Make(target, flags), _a));
        Assert.Equal(Pte.Make(target, adjusted), Entries(live)[9]);
    }

    [Fact]
    public void NotPresentEntries_AreNotAdjusted()
    {
        ulong l1 = Alloc(_a), l4 = Alloc(_a);
        Entries(l1)[0] = RW | 0x1234000;
        Assert.Equal(0, Pin(l1, 1, _a));
        Assert.Equal(0, Pin(l4, 4, _a));
        Assert.Equal(RW | 0x1234000, Entries(l1)[0]);
        Assert.Equal(0, Update(l4, 1, 0xabc000, _a));
        Assert.Equal(0xabc000UL, Entries(l4)[1]);
    }

    // ---- linear page tables ----

    [Fact]
    public void L4SelfMap_ReadOnly_TakesNoReference()
    {
        ulong l4 = Alloc(_a);
        Entries(l4)[5] = Pte.Make(l4, P);

        Assert.Equal(0, Pin(l4, 4, _a));
        Assert.Equal((2u, 1u), Counts(l4));
        Assert.Equal(0, Page(l4).LinearEntries);

        Assert.Equal(0, Update(l4, 6, Pte.Make(l4, P | NX), _a));
        Assert.Equal((2u, 1u), Counts(l4));
        Assert.Equal(0, Update(l4, 6, 0, _a));
        Assert.Equal((2u, 1u), Counts(l4));

        Assert.Equal(0, Unpin(l4, _a));
        Assert.Equal((1u, 0u), Counts(l4));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void SelfMap_Writable_IsEinval(int level)
    {
        ulong table = Alloc(_a), live = Alloc(_a);
        Entries(table)[5] = Pte.Make(table, P | RW);
        Assert.Equal(-XenErrno.EINVAL, Pin(table, level, _a));
        Assert.Equal((1u, 0u), Counts(table));

        Assert.Equal(0, Pin(live, level, _a));
        Assert.Equal(-XenErrno.EINVAL, Update(live, 5, Pte.Make(live, P | RW), _a));
        Assert.Equal(0, Update(live, 5, Pte.Make(live, P), _a));
        Assert.Equal(-XenErrno.EINVAL, Update(live, 5, Pte.Make(live, P | RW), _a));   // RO -> RW: no fast path
        Assert.Equal((2u, 1u), Counts(live));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void ReadOnlyEntryToAnotherLiveTableOfItsLevel_TakesATypeReference(int level)
    {
        ulong target = Alloc(_a), container = Alloc(_a);
        Assert.Equal(0, Pin(target, level, _a));
        Assert.Equal(0, Pin(container, level, _a));

        Assert.Equal(-XenErrno.EINVAL, Update(container, 1, Pte.Make(target, P | RW), _a));
        Assert.Equal((2u, 1u), Counts(target));

        Assert.Equal(0, Update(container, 1, Pte.Make(target, P), _a));
        Assert.Equal((3u, 2u), Counts(target));
        Assert.Equal(1, Page(target).LinearUses);
        Assert.Equal(1, Page(container).LinearEntries);

        // The linear reference keeps the target live past its unpin.
        Assert.Equal(0, Unpin(target, _a));
        Assert.True(Page(target).IsValidated);
        Assert.Equal((2u, 1u), Counts(target));

        Assert.Equal(0, Update(container, 1, 0, _a));
        Assert.Equal((1u, 0u), Counts(target));
        Assert.False(Page(target).IsValidated);
        Assert.Equal(0, Page(target).LinearUses);
        Assert.Equal(0, Page(container).LinearEntries);
        Assert.Contains(target, _a.ShadowDrops);
    }

    [Fact]
    public void LinearEntryToATableNotYetValidatedAtThatLevel_IsNoLinearReference()
    {
        ulong container = Alloc(_a), other = Alloc(_a), lower = Alloc(_a);
        Assert.Equal(0, Pin(container, 4, _a));
        Assert.Equal(0, Pin(lower, 3, _a));

        // `other` has no type: the entry just makes it an L3 (a normal reference, not a linear one).
        Assert.Equal(0, Update(container, 1, Pte.Make(other, P), _a));
        Assert.Equal(FrameType.L3PageTable, _memory.TypeOf(other));
        Assert.Equal(0, Page(other).LinearUses);

        // A live table of the level below cannot be used either way: it is an L3, not an L4.
        ulong l2 = Alloc(_a);
        Assert.Equal(0, Pin(l2, 2, _a));
        Assert.Equal(-XenErrno.EINVAL, Update(container, 2, Pte.Make(l2, P), _a));
    }

    [Fact]
    public void LinearTables_DoNotNest()
    {
        ulong x = Alloc(_a), y = Alloc(_a), z = Alloc(_a);
        foreach (ulong l4 in new[] { x, y, z })
            Assert.Equal(0, Pin(l4, 4, _a));
        Assert.Equal(0, Update(y, 1, Pte.Make(x, P), _a));    // y holds a linear entry; x is a linear target

        var before = Snapshot();
        Assert.Equal(-XenErrno.EINVAL, Update(z, 1, Pte.Make(y, P), _a));   // y has linear entries
        Assert.Equal(-XenErrno.EINVAL, Update(x, 1, Pte.Make(z, P), _a));   // x is mapped linearly
        Assert.Equal(before, Snapshot());

        // More of the same, and self-maps, are still fine.
        Assert.Equal(0, Update(z, 1, Pte.Make(x, P), _a));
        Assert.Equal(0, Update(x, 2, Pte.Make(x, P), _a));
        Assert.Equal(0, Update(y, 2, Pte.Make(y, P), _a));
        Assert.Equal(2, Page(x).LinearUses);

        // Nor can a new table holding a linear entry be validated against a table that has them.
        ulong w = Alloc(_a);
        Entries(w)[0] = Pte.Make(y, P);
        Assert.Equal(-XenErrno.EINVAL, Pin(w, 4, _a));
        Entries(w)[0] = Pte.Make(x, P);
        Assert.Equal(0, Pin(w, 4, _a));
        Assert.Equal(3, Page(x).LinearUses);
        Assert.Equal(1, Page(w).LinearEntries);
    }

    [Fact]
    public void UnpinningAContainer_DropsItsLinearReferences()
    {
        ulong x = Alloc(_a), y = Alloc(_a);
        Assert.Equal(0, Pin(x, 4, _a));
        Entries(y)[0] = Pte.Make(x, P);
        Entries(y)[1] = Pte.Make(x, P);
        Entries(y)[2] = Pte.Make(y, P);
        Assert.Equal(0, Pin(y, 4, _a));
        Assert.Equal((4u, 3u), Counts(x));
        Assert.Equal(2, Page(y).LinearEntries);

        Assert.Equal(0, Unpin(y, _a));
        Assert.Equal((2u, 1u), Counts(x));
        Assert.Equal(0, Page(x).LinearUses);
        Assert.Equal(0, Page(y).LinearEntries);
    }

    // ---- UpdateEntry ----

    [Fact]
    public void UpdateEntry_OnAFrameThatIsNoLiveTable_IsARawWrite()
    {
        ulong frame = Alloc(_a), theirs = Alloc(_b);
        ulong garbage = Pte.Make(theirs, P | RW | PageTableRules.Pcd | Pte.LargePage);

        Assert.Equal(0, Update(frame, 3, garbage, _a));

        Assert.Equal(garbage, Entries(frame)[3]);
        Assert.Equal((1u, 0u), Counts(frame));
        Assert.Equal(FrameType.None, _memory.TypeOf(frame));
        Assert.Equal((1u, 0u), Counts(theirs));
        Assert.Empty(_a.ShadowSyncs);

        // A table that was unpinned is ordinary memory again.
        ulong l1 = Alloc(_a);
        Assert.Equal(0, Pin(l1, 1, _a));
        Assert.Equal(0, Unpin(l1, _a));
        Assert.Equal(0, Update(l1, 0, garbage, _a));
        Assert.Equal(garbage, Entries(l1)[0]);
    }

    [Fact]
    public void UpdateEntry_OnALiveL1_Validates()
    {
        ulong l1 = Alloc(_a), mine = Alloc(_a), theirs = Alloc(_b);
        Assert.Equal(0, Pin(l1, 1, _a));

        Assert.Equal(-XenErrno.EBUSY, Update(l1, 0, Pte.Make(theirs, P), _a));
        Assert.Equal(-XenErrno.EPERM, Update(l1, 0, Pte.Make(_memory.FrameCount, P), _a));
        Assert.Equal(0UL, Entries(l1)[0]);
        Assert.Equal((1u, 0u), Counts(theirs));

        Assert.Equal(0, Update(l1, 0, Pte.Make(mine, P | RW | US), _a));
        Assert.Equal(Pte.Make(mine, P | RW | US | G), Entries(l1)[0]);
        Assert.Equal((2u, 1u), Counts(mine));
        Assert.Equal(FrameType.Writable, _memory.TypeOf(mine));
    }

    [Fact]
    public void UpdateEntry_OnAFrameNotOwned_IsEinval()
    {
        ulong theirs = Alloc(_b), l1 = Alloc(_b), mine = Alloc(_a);
        Assert.Equal(0, Pin(l1, 1, _b));
        ulong free = Alloc(_a);
        Assert.Equal(0, Release(free, _a));
        var before = Snapshot();

        Assert.Equal(-XenErrno.EINVAL, Update(theirs, 0, Pte.Make(mine, P), _a));
        Assert.Equal(-XenErrno.EINVAL, Update(l1, 0, Pte.Make(mine, P), _a));
        Assert.Equal(-XenErrno.EINVAL, Update(free, 0, 0x1234, _a));
        Assert.Equal(-XenErrno.EINVAL, Update(0, 0, 0x1234, _a));                    // Xen's frame
        lock (_memory.SyncRoot)
            Assert.Equal(-XenErrno.EINVAL, _types.UpdateEntry(_memory.FrameCount << MachineMemory.PageShift, 0, false, _a));

        Assert.Equal(before, Snapshot());
        Assert.Equal(0UL, Entries(theirs)[0]);
        Assert.Equal(0UL, Entries(l1)[0]);
        Assert.Equal(0UL, Entries(free)[0]);
    }

    [Fact]
    public void UpdateEntry_FastPath_TakesNoReferences_AndSyncsOnlyRealChanges()
    {
        ulong l1 = Alloc(_a), data = Alloc(_a);
        Assert.Equal(0, Pin(l1, 1, _a));
        Assert.Equal(0, Update(l1, 4, Pte.Make(data, P | RW), _a));
        Assert.Equal((2u, 1u), Counts(data));
        _a.ClearRecords();

        // Only A/D/NX/US/G and the available bits change: same frame, P, RW.
        ulong changed = Pte.Make(data, P | RW | A | D | NX | US | (1UL << 9) | (1UL << 60));
        Assert.Equal(0, Update(l1, 4, changed, _a));
        Assert.Equal(changed | G, Entries(l1)[4]);
        Assert.Equal((2u, 1u), Counts(data));
        Assert.Equal([Address(l1, 4)], _a.ShadowSyncs);

        // The same value again changes nothing and syncs nothing.
        _a.ClearRecords();
        Assert.Equal(0, Update(l1, 4, changed, _a));
        Assert.Empty(_a.ShadowSyncs);

        // Dropping RW is no fast path: the writable type goes.
        Assert.Equal(0, Update(l1, 4, Pte.Make(data, P), _a));
        Assert.Equal((2u, 0u), Counts(data));
        Assert.Equal([Address(l1, 4)], _a.ShadowSyncs);
    }

    [Fact]
    public void UpdateEntry_FastPathOfAnUpperEntry_TakesNoReferences()
    {
        var t = Tree(_a);
        Assert.Equal(0, Pin(t.L4, 4, _a));
        _a.ClearRecords();

        Assert.Equal(0, Update(t.L3, 0, Pte.Make(t.L2, P | RW | NX | D | (1UL << 11)), _a));

        Assert.Equal(Pte.Make(t.L2, P | RW | NX | D | (1UL << 11) | US), Entries(t.L3)[0]);
        Assert.Equal((2u, 1u), Counts(t.L2));
        Assert.Equal([Address(t.L3, 0)], _a.ShadowSyncs);
        Assert.Empty(_a.ShadowDrops);
    }

    [Fact]
    public void ReplacingAPresentEntry_SyncsIt_AndMovesTheReferences()
    {
        ulong l1 = Alloc(_a), first = Alloc(_a), second = Alloc(_a);
        Assert.Equal(0, Pin(l1, 1, _a));

        Assert.Equal(0, Update(l1, 7, Pte.Make(first, P | RW), _a));
        Assert.Empty(_a.ShadowSyncs);                       // was not present: nothing to sync

        Assert.Equal(0, Update(l1, 7, Pte.Make(second, P | RW), _a));
        Assert.Equal([Address(l1, 7)], _a.ShadowSyncs);
        Assert.Equal((1u, 0u), Counts(first));
        Assert.Equal((2u, 1u), Counts(second));

        _a.ClearRecords();
        Assert.Equal(0, Update(l1, 7, 0, _a));
        Assert.Equal([Address(l1, 7)], _a.ShadowSyncs);
        Assert.Equal((1u, 0u), Counts(second));

        _a.ClearRecords();
        Assert.Equal(0, Update(l1, 7, 0x5000, _a));           // not present to not present
        Assert.Empty(_a.ShadowSyncs);
    }

    [Fact]
    public void ReplacingAnUpperEntry_DevalidatesTheOldSubtree()
    {
        var t = Tree(_a);
        ulong newL3 = Alloc(_a);
        Assert.Equal(0, Pin(t.L4, 4, _a));
        _a.ClearRecords();

        Assert.Equal(0, Update(t.L4, 0, Pte.Make(newL3, P | RW), _a));

        Assert.Equal([Address(t.L4, 0)], _a.ShadowSyncs);
        Assert.Equal(new[] { t.L1, t.L2, t.L3 }.Order(), _a.ShadowDrops.Order());
        foreach (ulong mfn in new[] { t.L3, t.L2, t.L1, t.Data, t.ReadOnly })
            Assert.Equal((1u, 0u), Counts(mfn));
        Assert.Equal(FrameType.L3PageTable, _memory.TypeOf(newL3));
    }

    [Fact]
    public void FailedUpdate_KeepsTheOldEntryAndItsReferences()
    {
        ulong l1 = Alloc(_a), data = Alloc(_a), theirs = Alloc(_b);
        Assert.Equal(0, Pin(l1, 1, _a));
        Assert.Equal(0, Update(l1, 0, Pte.Make(data, P | RW), _a));
        ulong entry = Entries(l1)[0];
        _a.ClearRecords();

        Assert.Equal(-XenErrno.EBUSY, Update(l1, 0, Pte.Make(theirs, P | RW), _a));

        Assert.Equal(entry, Entries(l1)[0]);
        Assert.Equal((2u, 1u), Counts(data));
        Assert.Empty(_a.ShadowSyncs);
    }

    [Fact]
    public void PreserveAccessedDirty_KeepsTheLiveEntrysAD()
    {
        ulong l1 = Alloc(_a), data = Alloc(_a);
        Assert.Equal(0, Pin(l1, 1, _a));
        Assert.Equal(0, Update(l1, 0, Pte.Make(data, P | RW | US | A | D), _a));

        Assert.Equal(0, Update(l1, 0, Pte.Make(data, P | RW | US), _a, preserveAd: true));
        Assert.Equal(Pte.Make(data, P | RW | US | G | A | D), Entries(l1)[0]);

        Assert.Equal(0, Update(l1, 0, Pte.Make(data, P | RW | US), _a, preserveAd: false));
        Assert.Equal(Pte.Make(data, P | RW | US | G), Entries(l1)[0]);
    }

    // ---- ReleaseAllocation ----

    [Fact]
    public void ReleaseAllocation_OfAMappedFrame_FreesItWhenTheLastMappingGoes()
    {
        ulong l1 = Alloc(_a), data = Alloc(_a);
        Entries(l1)[0] = Pte.Make(data, P | RW);
        Entries(l1)[1] = Pte.Make(data, P);
        Assert.Equal(0, Pin(l1, 1, _a));
        _memory.Frame(data)[100] = 0x77;
        ulong free = _memory.FreeFrames;

        Assert.Equal(0, Release(data, _a));

        Assert.Equal(free, _memory.FreeFrames);
        Assert.Equal(_a.Id, _memory.OwnerOf(data));
        Assert.False(Page(data).IsAllocated);
        Assert.Equal((2u, 1u), Counts(data));
        // Giving it up again drops nothing more (Xenolith refuses; Xen's guest_remove_page would return 0).
        Assert.Contains(Release(data, _a), new[] { 0, -XenErrno.EINVAL });
        Assert.Equal((2u, 1u), Counts(data));
        Assert.Equal(_a.Id, _memory.OwnerOf(data));

        Assert.Equal(0, Update(l1, 0, 0, _a));
        Assert.Equal(free, _memory.FreeFrames);
        Assert.Equal((1u, 0u), Counts(data));

        Assert.Equal(0, Update(l1, 1, 0, _a));
        Assert.Equal(free + 1, _memory.FreeFrames);
        Assert.Equal(DomainIds.Invalid, _memory.OwnerOf(data));
        Assert.Equal((0u, 0u), Counts(data));
        Assert.Equal(FrameType.None, _memory.TypeOf(data));
        Assert.All(_memory.Frame(data).ToArray(), b => Assert.Equal(0, b));   // scrubbed
    }

    [Fact]
    public void ReleaseAllocation_OfAnUnmappedFrame_FreesItAtOnce()
    {
        ulong frame = Alloc(_a);
        ulong free = _memory.FreeFrames;
        Assert.Equal(0, Release(frame, _a));
        Assert.Equal(free + 1, _memory.FreeFrames);
        Assert.Equal(DomainIds.Invalid, _memory.OwnerOf(frame));
    }

    [Fact]
    public void ReleaseAllocation_OfAPinnedTree_UnpinsAndFreesItAll()
    {
        var t = Tree(_a);
        Assert.Equal(0, Pin(t.L4, 4, _a));
        ulong free = _memory.FreeFrames;
        foreach (ulong mfn in new[] { t.L1, t.L2, t.L3, t.Data, t.ReadOnly })
            Assert.Equal(0, Release(mfn, _a));
        Assert.Equal(free, _memory.FreeFrames);              // all still referenced through the L4

        Assert.Equal(0, Release(t.L4, _a));

        Assert.Equal(free + 6, _memory.FreeFrames);
        foreach (ulong mfn in new[] { t.L4, t.L3, t.L2, t.L1, t.Data, t.ReadOnly })
            Assert.Equal(DomainIds.Invalid, _memory.OwnerOf(mfn));
        Assert.Equal(new[] { t.L1, t.L2, t.L3, t.L4 }.Order(), _a.ShadowDrops.Order());
    }

    [Fact]
    public void ReleaseAllocation_OfSomeoneElsesFrame_IsEinval()
    {
        ulong theirs = Alloc(_b);
        Assert.Equal(-XenErrno.EINVAL, Release(theirs, _a));
        Assert.Equal(-XenErrno.EINVAL, Release(0, _a));
        Assert.Equal(-XenErrno.EINVAL, Release(_memory.FrameCount, _a));
        Assert.Equal((1u, 0u), Counts(theirs));
    }

    [Fact]
    public void AFreedFrame_ReallocatedToAnotherDomain_CannotBeMappedByTheFirst()
    {
        ulong l1 = Alloc(_a);
        Assert.Equal(0, Pin(l1, 1, _a));
        ulong frame = Alloc(_a);
        Assert.Equal(0, Release(frame, _a));
        ulong again = Alloc(_b);
        Assert.Equal(frame, again);                          // the pool is a stack: the same frame comes back

        Assert.Equal(-XenErrno.EBUSY, Update(l1, 0, Pte.Make(frame, P), _a));
        Assert.Equal(-XenErrno.EINVAL, Update(frame, 0, 0x1234, _a));
    }

    // ---- details Xen's ABI fixes ----

    /// <summary>
    /// get_page_from_l1e: an MMIO frame the domain may not map is -EPERM, except INVALID_MFN
    /// (PADDR_MASK >> PAGE_SHIFT = 0xff_ffff_ffff, the largest frame an entry can name), which is
    /// -EINVAL (spec section 3, step 2).
    /// </summary>
    [Fact]
    public void L1EntryMappingInvalidMfn_IsEinval_OtherIoFramesEperm()
    {
        ulong l1 = Alloc(_a);
        Assert.Equal(0, Pin(l1, 1, _a));
        Assert.Equal(-XenErrno.EINVAL, Update(l1, 0, Pte.Make(0xff_ffff_ffff, P), _a));
        Assert.Equal(-XenErrno.EPERM, Update(l1, 0, Pte.Make(0xff_ffff_fffe, P), _a));
        Assert.Equal(0UL, Entries(l1)[0]);
    }

    /// <summary>
    /// MMU_PT_UPDATE_PRESERVE_AD: Xen's update_intpte ORs the live entry's A/D into whatever it
    /// writes, including a not-present value (mod_l1_entry passes preserve_ad on that path too).
    /// </summary>
    [Fact]
    public void PreserveAccessedDirty_AppliesToANotPresentValueToo()
    {
        ulong l1 = Alloc(_a), data = Alloc(_a);
        Assert.Equal(0, Pin(l1, 1, _a));
        Assert.Equal(0, Update(l1, 0, Pte.Make(data, P | US | A | D), _a));

        Assert.Equal(0, Update(l1, 0, 0x9000, _a, preserveAd: true));

        Assert.Equal(0x9000 | A | D, Entries(l1)[0]);
        Assert.Equal((1u, 0u), Counts(data));
    }
}
