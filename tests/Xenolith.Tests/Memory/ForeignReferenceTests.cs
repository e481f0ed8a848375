using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;
using Xunit;

namespace Xenolith.Tests.Memory;

/// <summary>
/// Frames referenced from outside their domain (Domain0's mappings, other domains' grant mappings):
/// what such a reference forbids while held, and what happens when either side dies first.
/// </summary>
public sealed class ForeignReferenceTests : IDisposable
{
    private readonly MachineMemory _memory = new(1UL << 20);
    private readonly PageTypes _types;
    private readonly FakePageTableOwner _a = new(1);
    private readonly FakePageTableOwner _b = new(2);
    private readonly PageTypeInvariantChecker _checker;

    public ForeignReferenceTests()
    {
        _types = new PageTypes(_memory);
        _checker = new PageTypeInvariantChecker(_memory);
    }

    public void Dispose()
    {
        _checker.Check("at the end of the test");
        _memory.Dispose();
    }

    private Span<ulong> Entries(ulong mfn) => MemoryMarshal.Cast<byte, ulong>(_memory.Frame(mfn));

    private int Pin(ulong mfn, int level, FakePageTableOwner owner)
    {
        lock (_memory.SyncRoot)
            return _types.Pin(mfn, PageTableRules.TableType(level), owner);
    }

    [Fact]
    public void WritableHostMapping_KeepsTheFrameFromBecomingAPageTable_UntilDisposed()
    {
        ulong frame = _memory.Allocate(_a.Id);
        using (HostFrameMapping mapping = HostFrameMapping.Map(_types, _a.Id, frame, writable: true))
        {
            mapping.Span[0] = 0x5a;
            Assert.Equal(-XenErrno.EINVAL, Pin(frame, 1, _a));
            _checker.Check("while mapped");
        }
        Assert.Equal(0, Pin(frame, 1, _a));
    }

    [Fact]
    public void WritableHostMapping_OfAPageTable_IsBusy_ButReadOnlyIsAllowed()
    {
        ulong table = _memory.Allocate(_a.Id);
        Assert.Equal(0, Pin(table, 1, _a));

        Assert.Equal(-XenErrno.EBUSY, HostFrameMapping.TryMap(_types, _a.Id, table, writable: true, out HostFrameMapping? refused));
        Assert.Null(refused);
        using HostFrameMapping readOnly = HostFrameMapping.Map(_types, _a.Id, table, writable: false);
        Assert.Throws<InvalidOperationException>(() => readOnly.Span.Length);
        Assert.Equal(PageInfo.Allocated(0).RefCount + 2, _memory.Page(table).RefCount);   // allocation, pin, mapping
    }

    [Fact]
    public void HostMapping_OfAnotherOwnersOrAFreeFrame_IsRefused()
    {
        ulong frame = _memory.Allocate(_a.Id);
        Assert.Equal(-XenErrno.EINVAL, HostFrameMapping.TryMap(_types, _b.Id, frame, writable: false, out _));
        Assert.Equal(-XenErrno.EINVAL, HostFrameMapping.TryMap(_types, _a.Id, _memory.FrameCount - 1, writable: false, out _));
        Assert.Equal(-XenErrno.EINVAL, HostFrameMapping.TryMap(_types, _a.Id, _memory.FrameCount, writable: false, out _));
    }

    [Fact]
    public void OwnerDeath_LeavesAMappedFrameToItsHolder_ThenTheLastPutFreesAndScrubsIt()
    {
        ulong frame = _memory.Allocate(_a.Id);
        ulong other = _memory.Allocate(_a.Id);
        ulong freeBefore = _memory.FreeFrames;
        HostFrameMapping mapping = HostFrameMapping.Map(_types, _a.Id, frame, writable: true);
        mapping.Span[7] = 0x42;

        _types.ReleaseDomain(_a.Id);

        Assert.Equal(freeBefore + 1, _memory.FreeFrames);           // `other` went back, `frame` did not
        Assert.Equal(DomainIdsInvalid, _memory.OwnerOf(other));
        Assert.Equal(0x42, mapping.ReadOnlySpan[7]);               // the holder still sees the page
        Assert.Equal(-XenErrno.EINVAL, HostFrameMapping.TryMap(_types, _a.Id, frame, writable: false, out _));   // no new references
        _checker.Check("after the owner died");

        mapping.Dispose();
        Assert.Equal(freeBefore + 2, _memory.FreeFrames);
        Assert.Equal(0, _memory.Frame(frame)[7]);
        Assert.Throws<ObjectDisposedException>(() => mapping.ReadOnlySpan.Length);
    }

    [Fact]
    public void MapperDeath_DropsTheReferencesItsL1EntriesHeldOnAnotherDomainsFrames()
    {
        ulong granted = _memory.Allocate(_b.Id);
        ulong l1 = _memory.Allocate(_a.Id);
        Assert.Equal(0, Pin(l1, 1, _a));
        // What a grant mapping leaves behind: a foreign reference owned by an entry of the mapper's L1.
        lock (_memory.SyncRoot)
            Assert.Equal(0, _types.GetForeignReference(granted, _b.Id, writable: true));
        Entries(l1)[3] = PageTableRules.Adjust(Pte.Make(granted, Pte.Present | Pte.Writable), 1);
        _checker.Check("while mapped");

        _types.ReleaseDomain(_a.Id);

        PageInfo page = _memory.Page(granted);
        Assert.Equal((_b.Id, 1u, 0u, 0u), (page.Owner, page.RefCount, page.TypeCount, page.ForeignRefs));
        Assert.Equal(FrameType.None, _memory.TypeOf(granted));
    }

    [Fact]
    public void ClearingAForeignL1Entry_ReturnsItsReferences()
    {
        ulong granted = _memory.Allocate(_b.Id);
        ulong l1 = _memory.Allocate(_a.Id);
        Assert.Equal(0, Pin(l1, 1, _a));
        lock (_memory.SyncRoot)
            Assert.Equal(0, _types.GetForeignReference(granted, _b.Id, writable: false));
        Entries(l1)[0] = PageTableRules.Adjust(Pte.Make(granted, Pte.Present), 1);

        lock (_memory.SyncRoot)
            Assert.Equal(0, _types.UpdateEntry(l1 << MachineMemory.PageShift, 0, preserveAccessedDirty: false, _a));

        Assert.Equal((1u, 0u), (_memory.Page(granted).RefCount, _memory.Page(granted).ForeignRefs));
    }

    private const ushort DomainIdsInvalid = Xenolith.Hypervisor.DomainIds.Invalid;
}
