using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Grants;
using Xenolith.Hypervisor.Hypercalls;
using Xunit;

namespace Xenolith.Tests.Grants;

/// <summary>setup_table, query_size, the version ops, swap_grant_ref, cache_flush, and the grant_table.h layouts.</summary>
public sealed class GrantTableOpsTests : IDisposable
{
    private readonly GrantWorld _w = new();
    private readonly FakeGrantDomain _a;
    private readonly FakeGrantDomain _b;

    public GrantTableOpsTests()
    {
        _a = _w.AddDomain(1);
        _b = _w.AddDomain(2);
    }

    public void Dispose() => _w.Dispose();

    [Fact]
    public void SetupTable_GrowsToTheMax_AndNoFurther()
    {
        Assert.Equal(GrantStatus.Okay, _w.Grants.QuerySize(_a, DomainIds.Self, out uint frames, out uint max));
        Assert.Equal((1u, (uint)DomainGrants.DefaultMaxGrantFrames), (frames, max));
        _a.Grants.MaxGrantFrames = 4;

        Assert.Equal(GrantStatus.GeneralError, _w.Grants.SetupTable(_a, DomainIds.Self, 5, out ulong[] none));
        Assert.Empty(none);
        Assert.Equal(GrantStatus.Okay, _w.Grants.SetupTable(_a, _a.Id, 4, out ulong[] all));
        Assert.Equal(4, all.Distinct().Count());
        Assert.All(all, mfn => Assert.Equal(_a.Id, _w.Memory.OwnerOf(mfn)));
        Assert.Equal(GrantStatus.Okay, _w.Grants.SetupTable(_a, DomainIds.Self, 2, out ulong[] first));
        Assert.Equal(all[..2], first);   // only the first nr_frames, the table never shrinks
        Assert.Equal(GrantStatus.Okay, _w.Grants.QuerySize(_a, _a.Id, out frames, out max));
        Assert.Equal((4u, 4u), (frames, max));
        Assert.Equal(4u * 512, _w.Grants.TableOf(_a)!.EntryCount);
        Assert.Throws<ArgumentOutOfRangeException>(() => _a.Grants.MaxGrantFrames = 0);
    }

    [Fact]
    public void AnotherDomainsTable_IsPermissionDenied_AMissingOne_BadDomain()
    {
        Assert.Equal(GrantStatus.PermissionDenied, _w.Grants.SetupTable(_a, _b.Id, 1, out _));
        Assert.Equal(GrantStatus.BadDomain, _w.Grants.SetupTable(_a, 300, 1, out _));
        Assert.Equal(GrantStatus.PermissionDenied, _w.Grants.QuerySize(_a, _b.Id, out _, out _));
        Assert.Equal(GrantStatus.BadDomain, _w.Grants.QuerySize(_a, 300, out _, out _));
        Assert.Equal(GrantStatus.PermissionDenied, _w.Grants.GetStatusFrames(_a, _b.Id, 0));
        Assert.Equal(-XenErrno.EPERM, _w.Grants.GetVersion(_a, _b.Id, out _));
        Assert.Equal(-XenErrno.ESRCH, _w.Grants.GetVersion(_a, 300, out _));
    }

    [Fact]
    public void Versions_OnlyOne_TwoIsEnosys()
    {
        Assert.Equal(0, _w.Grants.GetVersion(_a, DomainIds.Self, out uint version));
        Assert.Equal(1u, version);
        Assert.Equal(0, GrantTables.SetVersion(1, out version));
        Assert.Equal(-XenErrno.ENOSYS, GrantTables.SetVersion(2, out version));
        Assert.Equal(1u, version);
        Assert.Equal(-XenErrno.EINVAL, GrantTables.SetVersion(3, out _));
        Assert.Equal(-XenErrno.EINVAL, GrantTables.SetVersion(0, out _));
        Assert.Equal(GrantStatus.Okay, _w.Grants.GetStatusFrames(_a, DomainIds.Self, 0));
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.GetStatusFrames(_a, DomainIds.Self, 1));
    }

    [Fact]
    public void Swap_ExchangesEntries_UnlessPinned()
    {
        _w.Grant(_a, 1, _b.Id);
        _w.Grant(_a, 2, 7, readOnly: true);
        ulong one = _w.EntryWord(_a, 1), two = _w.EntryWord(_a, 2);
        Assert.Equal(GrantStatus.Okay, _w.Grants.Swap(_a, 1, 2));
        Assert.Equal((two, one), (_w.EntryWord(_a, 1), _w.EntryWord(_a, 2)));
        Assert.Equal(GrantStatus.Okay, _w.Grants.Swap(_a, 1, 1));
        Assert.Equal(GrantStatus.BadGntref, _w.Grants.Swap(_a, 1, 512));

        _w.Grant(_a, 3, DomainIds.Domain0);
        using HostGrantMapping pinned = _w.Grants.MapForDomain0(_a.Id, 3, readOnly: true);
        Assert.Equal(GrantStatus.EAgain, _w.Grants.Swap(_a, 3, 1));
    }

    [Fact]
    public void CacheFlush_X86Semantics()
    {
        ulong own = _w.Allocate(_a);
        GrantCacheFlush Flush(ulong mfn, uint op, ushort offset = 0, ushort length = 64) =>
            new() { DevBusAddr = mfn << 12, Offset = offset, Length = length, Op = op };

        Assert.Equal(0, _w.Grants.CacheFlush(_a, Flush(own, GrantCacheFlushOp.Clean), 0));
        Assert.Equal(0, _w.Grants.CacheFlush(_a, Flush(own, GrantCacheFlushOp.Clean | GrantCacheFlushOp.Invalidate), 0));
        Assert.Equal(-XenErrno.EOPNOTSUPP, _w.Grants.CacheFlush(_a, Flush(own, GrantCacheFlushOp.Invalidate), 0));
        Assert.Equal(-XenErrno.EINVAL, _w.Grants.CacheFlush(_a, Flush(own, GrantCacheFlushOp.SourceGref | GrantCacheFlushOp.Clean), 0));
        Assert.Equal(-XenErrno.EINVAL, _w.Grants.CacheFlush(_a, Flush(own, GrantCacheFlushOp.Clean, 4000, 100), 0));
        Assert.Equal(0, _w.Grants.CacheFlush(_a, Flush(own, 0), 0));
        Assert.Equal(-XenErrno.EILSEQ, _w.Grants.CacheFlush(_a, Flush(own, 0), 5));
        Assert.Equal(-XenErrno.EINVAL, _w.Grants.CacheFlush(_a, Flush(_w.Memory.FrameCount, GrantCacheFlushOp.Clean), 0));
        Assert.Equal(-XenErrno.EPERM, _w.Grants.CacheFlush(_a, Flush(_w.Memory.FrameCount - 1, GrantCacheFlushOp.Clean), 0));   // a free frame

        // Another domain's frame: only one the caller has pinned through a grant.
        (ulong cr3, _) = _w.AddressSpace(_a);
        ulong granted = _w.Grant(_b, 4, _a.Id);
        Assert.Equal(-XenErrno.EINVAL, _w.Grants.CacheFlush(_a, Flush(granted, GrantCacheFlushOp.Clean), 0));
        GrantMapGrantRef map = _w.Map(_a, cr3, _b.Id, 4, GrantMapFlags.HostMap);
        Assert.Equal(0, _w.Grants.CacheFlush(_a, Flush(granted, GrantCacheFlushOp.Clean), 0));
        Assert.Equal(-XenErrno.EINVAL, _w.Grants.CacheFlush(_a, Flush(granted, GrantCacheFlushOp.Clean), 5));   // the search resumes past it
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_a, cr3, map.Handle, GrantWorld.MapBase, 0));
    }

    [Fact]
    public void GuestRanges_AsAccessOkJudgesThem()
    {
        Assert.True(GrantTableOpHypercall.IsGuestRange(0x1000, 0));
        Assert.True(GrantTableOpHypercall.IsGuestRange(0x7fff_ffff_f000, 0x1000));
        Assert.False(GrantTableOpHypercall.IsGuestRange(0x7fff_ffff_f000, 0x1001));
        Assert.False(GrantTableOpHypercall.IsGuestRange(0xffff_8000_0000_0000, 8));
        Assert.False(GrantTableOpHypercall.IsGuestRange(0xffff_87ff_ffff_fff8, 16));
        Assert.True(GrantTableOpHypercall.IsGuestRange(0xffff_8800_0000_0000, 8));
        Assert.False(GrantTableOpHypercall.IsGuestRange(ulong.MaxValue - 3, 8));
    }

    [Fact]
    public void StructLayouts_AreGrantTableH()
    {
        Assert.Equal(8, Unsafe.SizeOf<GrantEntryV1>());
        Assert.Equal(32, Unsafe.SizeOf<GrantMapGrantRef>());
        Assert.Equal(24, Unsafe.SizeOf<GrantUnmapGrantRef>());
        Assert.Equal(24, Unsafe.SizeOf<GrantUnmapAndReplace>());
        Assert.Equal(24, Unsafe.SizeOf<GrantSetupTable>());
        Assert.Equal(4, Unsafe.SizeOf<GrantDumpTable>());
        Assert.Equal(24, Unsafe.SizeOf<GrantTransfer>());
        Assert.Equal(40, Unsafe.SizeOf<GrantCopy>());
        Assert.Equal(16, Unsafe.SizeOf<GrantQuerySize>());
        Assert.Equal(4, Unsafe.SizeOf<GrantSetVersion>());
        Assert.Equal(16, Unsafe.SizeOf<GrantGetStatusFrames>());
        Assert.Equal(8, Unsafe.SizeOf<GrantGetVersion>());
        Assert.Equal(12, Unsafe.SizeOf<GrantSwapGrantRef>());
        Assert.Equal(16, Unsafe.SizeOf<GrantCacheFlush>());

        Assert.Equal(16, Offset<GrantMapGrantRef>(nameof(GrantMapGrantRef.Dom)));
        Assert.Equal(18, Offset<GrantMapGrantRef>(nameof(GrantMapGrantRef.Status)));
        Assert.Equal(20, Offset<GrantMapGrantRef>(nameof(GrantMapGrantRef.Handle)));
        Assert.Equal(24, Offset<GrantMapGrantRef>(nameof(GrantMapGrantRef.DevBusAddr)));
        Assert.Equal(16, Offset<GrantUnmapGrantRef>(nameof(GrantUnmapGrantRef.Handle)));
        Assert.Equal(20, Offset<GrantUnmapGrantRef>(nameof(GrantUnmapGrantRef.Status)));
        Assert.Equal(4, Offset<GrantSetupTable>(nameof(GrantSetupTable.NrFrames)));
        Assert.Equal(8, Offset<GrantSetupTable>(nameof(GrantSetupTable.Status)));
        Assert.Equal(16, Offset<GrantSetupTable>(nameof(GrantSetupTable.FrameList)));
        Assert.Equal(16, Offset<GrantCopy>(nameof(GrantCopy.Dest)));
        Assert.Equal(32, Offset<GrantCopy>(nameof(GrantCopy.Length)));
        Assert.Equal(34, Offset<GrantCopy>(nameof(GrantCopy.Flags)));
        Assert.Equal(36, Offset<GrantCopy>(nameof(GrantCopy.Status)));
        Assert.Equal(8, Offset<GrantCopyPointer>(nameof(GrantCopyPointer.DomId)));
        Assert.Equal(10, Offset<GrantCopyPointer>(nameof(GrantCopyPointer.Offset)));
        Assert.Equal(8, Offset<GrantQuerySize>(nameof(GrantQuerySize.MaxNrFrames)));
        Assert.Equal(12, Offset<GrantQuerySize>(nameof(GrantQuerySize.Status)));
        Assert.Equal(4, Offset<GrantGetStatusFrames>(nameof(GrantGetStatusFrames.Dom)));
        Assert.Equal(6, Offset<GrantGetStatusFrames>(nameof(GrantGetStatusFrames.Status)));
        Assert.Equal(8, Offset<GrantGetStatusFrames>(nameof(GrantGetStatusFrames.FrameList)));
        Assert.Equal(4, Offset<GrantGetVersion>(nameof(GrantGetVersion.Version)));
        Assert.Equal(8, Offset<GrantSwapGrantRef>(nameof(GrantSwapGrantRef.Status)));
        Assert.Equal(12, Offset<GrantCacheFlush>(nameof(GrantCacheFlush.Op)));
        Assert.Equal(8, Offset<GrantTransfer>(nameof(GrantTransfer.DomId)));
        Assert.Equal(12, Offset<GrantTransfer>(nameof(GrantTransfer.Ref)));
        Assert.Equal(16, Offset<GrantTransfer>(nameof(GrantTransfer.Status)));
    }

    private static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);
}
