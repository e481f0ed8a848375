using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Memory;
using Xunit;

namespace Xenolith.Tests.Grants;

/// <summary>GNTTABOP_copy: grants pinned only for the copy, frames only by DOMID_SELF, and every status.</summary>
public sealed class GrantCopyTests : IDisposable
{
    private const ushort Permit = GrantEntryFlags.PermitAccess;

    private readonly GrantWorld _w = new();
    private readonly FakeGrantDomain _granter;
    private readonly FakeGrantDomain _caller;

    public GrantCopyTests()
    {
        _granter = _w.AddDomain(1);
        _caller = _w.AddDomain(2);
    }

    public void Dispose() => _w.Dispose();

    private static GrantCopy FromGrant(ushort dom, uint gref, ushort offset, ulong destMfn, ushort destOffset, ushort length) => new()
    {
        Source = new GrantCopyPointer { Ref = gref, DomId = dom, Offset = offset },
        Dest = new GrantCopyPointer { Gmfn = destMfn, DomId = DomainIds.Self, Offset = destOffset },
        Length = length,
        Flags = GrantCopyFlags.SourceGref,
    };

    private static GrantCopy ToGrant(ulong sourceMfn, ushort dom, uint gref, ushort length) => new()
    {
        Source = new GrantCopyPointer { Gmfn = sourceMfn, DomId = DomainIds.Self },
        Dest = new GrantCopyPointer { Ref = gref, DomId = dom },
        Length = length,
        Flags = GrantCopyFlags.DestGref,
    };

    [Fact]
    public void CopyFromAGrantIntoOwnFrame_AndBack_LeavesNoPinOrStatusBit()
    {
        ulong granted = _w.Grant(_granter, 3, _caller.Id);
        _w.Memory.Frame(granted)[100..104].Fill(0xab);
        ulong own = _w.Allocate(_caller);

        Assert.Equal(GrantStatus.Okay, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 3, 100, own, 10, 4)));
        Assert.Equal(new byte[] { 0xab, 0xab, 0xab, 0xab }, _w.Memory.Frame(own)[10..14].ToArray());
        Assert.Equal(Permit, _w.Flags(_granter, 3));

        _w.Memory.Frame(own)[0] = 0x5c;
        Assert.Equal(GrantStatus.Okay, _w.Grants.Copy(_caller, ToGrant(own, _granter.Id, 3, 4096)));
        Assert.Equal(0x5c, _w.Memory.Frame(granted)[0]);
        Assert.Equal(Permit, _w.Flags(_granter, 3));
        Assert.Equal((1u, 0u), (_w.Memory.Page(granted).RefCount, _w.Memory.Page(granted).ForeignRefs));
    }

    [Fact]
    public void GrantToGrant_BetweenTwoOtherDomains()
    {
        FakeGrantDomain third = _w.AddDomain(3);
        ulong source = _w.Grant(_granter, 1, _caller.Id, readOnly: true);
        ulong dest = _w.Grant(third, 2, _caller.Id);
        _w.Memory.Frame(source)[4095] = 0x77;
        var op = new GrantCopy
        {
            Source = new GrantCopyPointer { Ref = 1, DomId = _granter.Id, Offset = 4095 },
            Dest = new GrantCopyPointer { Ref = 2, DomId = third.Id, Offset = 0 },
            Length = 1,
            Flags = GrantCopyFlags.SourceGref | GrantCopyFlags.DestGref,
        };
        Assert.Equal(GrantStatus.Okay, _w.Grants.Copy(_caller, op));
        Assert.Equal(0x77, _w.Memory.Frame(dest)[0]);
    }

    [Fact]
    public void ACopyAlongsideAMapping_KeepsTheMappingsBits()
    {
        (ulong cr3, _) = _w.AddressSpace(_caller);
        _w.Grant(_granter, 3, _caller.Id);
        GrantMapGrantRef map = _w.Map(_caller, cr3, _granter.Id, 3, GrantMapFlags.HostMap | GrantMapFlags.ReadOnly);
        ulong own = _w.Allocate(_caller);

        Assert.Equal(GrantStatus.Okay, _w.Grants.Copy(_caller, ToGrant(own, _granter.Id, 3, 8)));
        Assert.Equal(Permit | GrantEntryFlags.Reading, _w.Flags(_granter, 3));   // writing came and went with the copy
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_caller, cr3, map.Handle, GrantWorld.MapBase, 0));
    }

    [Fact]
    public void OffsetsOrLengthLeavingThePage_AreBadCopyArg()
    {
        _w.Grant(_granter, 3, _caller.Id);
        ulong own = _w.Allocate(_caller);
        Assert.Equal(GrantStatus.BadCopyArg, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 3, 4000, own, 0, 97)));
        Assert.Equal(GrantStatus.BadCopyArg, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 3, 0, own, 4095, 2)));
        Assert.Equal(GrantStatus.BadCopyArg, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 3, 0, own, 0, 4097)));
        Assert.Equal(GrantStatus.BadCopyArg, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 3, 65535, own, 0, 65535)));
        Assert.Equal(Permit, _w.Flags(_granter, 3));
    }

    [Fact]
    public void ReadOnlyGrantAsDestination_IsGeneralError_AsXenAnswers()
    {
        _w.Grant(_granter, 3, _caller.Id, readOnly: true);
        ulong own = _w.Allocate(_caller);
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.Copy(_caller, ToGrant(own, _granter.Id, 3, 8)));
        Assert.Equal(Permit | GrantEntryFlags.ReadOnly, _w.Flags(_granter, 3));
    }

    [Fact]
    public void FramesOnlyByDomidSelf_ElsePermissionDenied()
    {
        _w.Grant(_granter, 3, _caller.Id);
        ulong own = _w.Allocate(_caller);
        GrantCopy op = FromGrant(_granter.Id, 3, 0, own, 0, 8);
        op.Dest.DomId = _caller.Id;   // its own id, but not DOMID_SELF
        Assert.Equal(GrantStatus.PermissionDenied, _w.Grants.Copy(_caller, op));
        op.Dest.DomId = _granter.Id;
        Assert.Equal(GrantStatus.PermissionDenied, _w.Grants.Copy(_caller, op));
    }

    [Fact]
    public void AFrameTheCallerDoesNotOwn_IsBadPage_AndAPageTableDestination_GeneralError()
    {
        _w.Grant(_granter, 3, _caller.Id);
        ulong someoneElses = _w.Allocate(_granter);
        Assert.Equal(GrantStatus.BadPage, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 3, 0, someoneElses, 0, 8)));
        Assert.Equal(GrantStatus.BadPage, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 3, 0, _w.Memory.FrameCount + 1, 0, 8)));
        Assert.Equal(GrantStatus.BadPage, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 3, 0, ulong.MaxValue, 0, 8)));
        ulong table = _w.Allocate(_caller);
        lock (_w.Memory.SyncRoot)
            Assert.Equal(0, _w.Types.Pin(table, FrameType.L1PageTable, _caller));
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 3, 0, table, 0, 8)));
        Assert.Equal(Permit, _w.Flags(_granter, 3));
    }

    [Fact]
    public void BadRefs_BadDomains_AndUngrantedEntries()
    {
        ulong own = _w.Allocate(_caller);
        _w.TableFrames(_granter);
        Assert.Equal(GrantStatus.BadGntref, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 512, 0, own, 0, 8)));
        Assert.Equal(GrantStatus.BadDomain, _w.Grants.Copy(_caller, FromGrant(42, 0, 0, own, 0, 8)));
        Assert.Equal(GrantStatus.BadDomain, _w.Grants.Copy(_caller, FromGrant(DomainIds.Domain0, 0, 0, own, 0, 8)));
        _w.Grant(_granter, 4, 9);   // granted to another domain
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.Copy(_caller, FromGrant(_granter.Id, 4, 0, own, 0, 8)));
        Assert.Equal(Permit, _w.Flags(_granter, 4));
    }
}
