using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;
using Xunit;

namespace Xenolith.Tests.Memory;

/// <summary>copy_from_guest / copy_to_guest: every bad pointer is -EFAULT, never an exception, never a partial write.</summary>
public sealed class GuestPageTablesTests : IDisposable
{
    private const ulong Va = 0x0000_4000_0000_0000;
    private readonly MachineMemory _memory = new(8UL << 20);
    private readonly GuestPageTables _tables;
    private readonly ulong _cr3;
    private readonly ulong _dataMfn, _readOnlyMfn;

    public GuestPageTablesTests()
    {
        _tables = new GuestPageTables(_memory);
        ulong l4 = _memory.Allocate(1), l3 = _memory.Allocate(1), l2 = _memory.Allocate(1), l1 = _memory.Allocate(1);
        _dataMfn = _memory.Allocate(1);
        _readOnlyMfn = _memory.Allocate(1);
        const ulong rw = Pte.Present | Pte.Writable | Pte.User;
        Set(l4, Pte.Index(Va, 4), Pte.Make(l3, rw));
        Set(l3, Pte.Index(Va, 3), Pte.Make(l2, rw));
        Set(l2, Pte.Index(Va, 2), Pte.Make(l1, rw));
        Set(l1, 0, Pte.Make(_dataMfn, rw));                                  // Va: writable
        Set(l1, 1, Pte.Make(_readOnlyMfn, Pte.Present | Pte.User));          // Va+4K: read-only
        // Va+8K: not present. Va+12K: points past the end of machine memory.
        Set(l1, 3, Pte.Make(_memory.FrameCount + 5, rw));
        _cr3 = l4 << 12;
    }

    public void Dispose() => _memory.Dispose();

    private void Set(ulong table, int index, ulong entry) => _memory.Block.Write((table << 12) + (ulong)index * 8, entry);

    [Fact]
    public void CopyRoundTrip_CrossingIntoAReadOnlyPage_ForReading()
    {
        byte[] data = [.. Enumerable.Range(0, 100).Select(i => (byte)i)];
        Assert.Equal(0, _tables.CopyToGuest(_cr3, Va + 4096 - 50, data.AsSpan(0, 50)));
        _memory.Frame(_readOnlyMfn)[..50].Fill(0x5a);

        var back = new byte[100];
        Assert.Equal(0, _tables.CopyFromGuest(_cr3, Va + 4096 - 50, back));
        Assert.Equal(data[..50], back[..50]);
        Assert.All(back[50..], b => Assert.Equal(0x5a, b));
    }

    [Theory]
    [InlineData(0UL)]                               // NULL
    [InlineData(Va + 8192)]                         // not present
    [InlineData(Va + 12288)]                        // table entry outside machine memory
    [InlineData(0x0000_8000_0000_0000UL)]           // non-canonical
    [InlineData(0xffff_8100_0000_0000UL)]           // the hypervisor's range
    [InlineData(0xffff_ffff_ffff_fff0UL)]           // wraps around the top
    public void BadPointers_FaultBothWays(ulong va)
    {
        var buffer = new byte[32];
        Assert.Equal(-XenErrno.EFAULT, _tables.CopyFromGuest(_cr3, va, buffer));
        Assert.Equal(-XenErrno.EFAULT, _tables.CopyToGuest(_cr3, va, buffer));
    }

    [Fact]
    public void WriteToReadOnlyPage_Faults()
    {
        Assert.Equal(-XenErrno.EFAULT, _tables.CopyToGuest(_cr3, Va + 4096, new byte[8]));
        Assert.All(_memory.Frame(_readOnlyMfn).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void WriteSpanningIntoAFault_WritesNothing()
    {
        byte[] data = [.. Enumerable.Repeat((byte)0xee, 64)];
        Assert.Equal(-XenErrno.EFAULT, _tables.CopyToGuest(_cr3, Va + 4096 - 32, data));
        Assert.All(_memory.Frame(_dataMfn).ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void Cr3OutsideMachineMemory_Faults()
    {
        Assert.Equal(-XenErrno.EFAULT, _tables.CopyFromGuest((_memory.FrameCount + 1) << 12, Va, new byte[8]));
    }

    [Fact]
    public void LargePages_Translate()
    {
        ulong l4 = _memory.Allocate(1), l3 = _memory.Allocate(1), l2 = _memory.Allocate(1);
        const ulong va = 0x0000_0000_4020_1234;
        Set(l4, 0, Pte.Make(l3, Pte.Present | Pte.Writable));
        Set(l3, 1, Pte.Make(l2, Pte.Present | Pte.Writable));
        Set(l2, 1, (0x20_0000UL) | Pte.Present | Pte.LargePage); // 2 MiB page at machine 2 MiB
        Assert.True(_tables.TryTranslate(l4 << 12, va, write: false, out ulong ma));
        Assert.Equal(0x20_0000UL + 0x1234, ma);
        Assert.False(_tables.TryTranslate(l4 << 12, va, write: true, out _));
    }

    [Fact]
    public void FreedFrames_AreScrubbed_AndGoBackToThePool()
    {
        ulong free = _memory.FreeFrames;
        ulong mfn = _memory.Allocate(3);
        _memory.Frame(mfn).Fill(0xab);
        _memory.Free([mfn]);
        Assert.Equal(free, _memory.FreeFrames);
        Assert.Equal(DomainIdsInvalid, _memory.OwnerOf(mfn));
        Assert.All(_memory.Frame(mfn).ToArray(), b => Assert.Equal(0, b));
    }

    private const ushort DomainIdsInvalid = Hypervisor.DomainIds.Invalid;
}
