using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Grants;
using Xunit;

namespace Xenolith.Tests.Grants;

/// <summary>Domain0's in-process API: mappings as spans with the granter's status bits, and copies to and from grants.</summary>
public sealed class GrantBackendTests : IDisposable
{
    private const ushort Permit = GrantEntryFlags.PermitAccess;

    private readonly GrantWorld _w = new();
    private readonly FakeGrantDomain _guest;

    public GrantBackendTests() => _guest = _w.AddDomain(1);

    public void Dispose() => _w.Dispose();

    [Fact]
    public void WritableMapping_IsThePage_SetsReadingAndWriting_UntilDisposed()
    {
        ulong frame = _w.Grant(_guest, 0, DomainIds.Domain0);
        using (HostGrantMapping mapping = _w.Grants.MapForDomain0(_guest.Id, 0, readOnly: false))
        {
            Assert.Equal(frame, mapping.Mfn);
            Assert.Equal(4096, mapping.Span.Length);
            mapping.Span[123] = 0x42;
            Assert.Equal(0x42, _w.Memory.Frame(frame)[123]);
            Assert.Equal(Permit | GrantEntryFlags.Reading | GrantEntryFlags.Writing, _w.Flags(_guest, 0));
            Assert.Equal((2u, 1u, 1u), (_w.Memory.Page(frame).RefCount, _w.Memory.Page(frame).ForeignRefs, _w.Memory.Page(frame).TypeCount));
            _w.Checker.Check("while Domain0 maps it");
        }
        Assert.Equal(Permit, _w.Flags(_guest, 0));
        Assert.Equal(1u, _w.Memory.Page(frame).RefCount);
    }

    [Fact]
    public void ReadOnlyMapping_HasNoWritableSpan_AndOnlyReading()
    {
        ulong frame = _w.Grant(_guest, 1, DomainIds.Domain0, readOnly: true);
        _w.Memory.Frame(frame)[0] = 9;
        HostGrantMapping mapping = _w.Grants.MapForDomain0(_guest.Id, 1, readOnly: true);
        Assert.True(mapping.IsReadOnly);
        Assert.Equal(9, mapping.ReadOnlySpan[0]);
        Assert.Throws<InvalidOperationException>(() => mapping.Span.Length);
        Assert.Equal(Permit | GrantEntryFlags.ReadOnly | GrantEntryFlags.Reading, _w.Flags(_guest, 1));
        mapping.Dispose();
        mapping.Dispose();   // once only
        Assert.Throws<ObjectDisposedException>(() => mapping.ReadOnlySpan.Length);
        Assert.Equal(Permit | GrantEntryFlags.ReadOnly, _w.Flags(_guest, 1));
    }

    [Fact]
    public void MapRefusals_CarryTheirStatus()
    {
        _w.Grant(_guest, 1, DomainIds.Domain0, readOnly: true);
        _w.Grant(_guest, 2, 5);   // granted to domain 5, not Domain0
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.TryMapForDomain0(_guest.Id, 1, readOnly: false, out HostGrantMapping? none));
        Assert.Null(none);
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.TryMapForDomain0(_guest.Id, 2, readOnly: true, out _));
        Assert.Equal(GrantStatus.BadGntref, _w.Grants.TryMapForDomain0(_guest.Id, 512, readOnly: true, out _));
        Assert.Equal(GrantStatus.BadDomain, _w.Grants.TryMapForDomain0(77, 0, readOnly: true, out _));
        GrantException e = Assert.Throws<GrantException>(() => _w.Grants.MapForDomain0(_guest.Id, 2, readOnly: true));
        Assert.Equal(GrantStatus.GeneralError, e.Status);
        Assert.Equal(Permit | GrantEntryFlags.ReadOnly, _w.Flags(_guest, 1));
        Assert.Equal(Permit, _w.Flags(_guest, 2));
    }

    [Fact]
    public void CopyFromAndToGrants()
    {
        ulong frame = _w.Grant(_guest, 3, DomainIds.Domain0);
        byte[] data = [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 7))];

        Assert.Equal(GrantStatus.Okay, _w.Grants.CopyToGrant(_guest.Id, 3, 0, data));
        Assert.Equal(data, _w.Memory.Frame(frame).ToArray());
        byte[] back = new byte[16];
        Assert.Equal(GrantStatus.Okay, _w.Grants.CopyFromGrant(_guest.Id, 3, 4080, back));
        Assert.Equal(data[4080..], back);
        Assert.Equal(Permit, _w.Flags(_guest, 3));
        Assert.Equal(1u, _w.Memory.Page(frame).RefCount);
    }

    [Fact]
    public void CopyRefusals_CarryTheirStatus()
    {
        _w.Grant(_guest, 3, DomainIds.Domain0, readOnly: true);
        _w.Grant(_guest, 4, 2);
        byte[] buffer = new byte[8];
        Assert.Equal(GrantStatus.BadCopyArg, _w.Grants.CopyFromGrant(_guest.Id, 3, 4090, buffer));
        Assert.Equal(GrantStatus.BadCopyArg, _w.Grants.CopyFromGrant(_guest.Id, 3, -1, buffer));
        Assert.Equal(GrantStatus.BadCopyArg, _w.Grants.CopyFromGrant(_guest.Id, 3, 0, new byte[4097]));
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.CopyToGrant(_guest.Id, 3, 0, buffer));   // read-only grant
        Assert.Equal(GrantStatus.GeneralError, _w.Grants.CopyFromGrant(_guest.Id, 4, 0, buffer)); // not Domain0's
        Assert.Equal(GrantStatus.BadGntref, _w.Grants.CopyFromGrant(_guest.Id, 9999, 0, buffer));
        Assert.Equal(GrantStatus.BadDomain, _w.Grants.CopyFromGrant(DomainIds.Self, 3, 0, buffer));
        Assert.Equal(Permit | GrantEntryFlags.ReadOnly, _w.Flags(_guest, 3));
        Assert.Equal(Permit, _w.Flags(_guest, 4));
    }

    [Fact]
    public void GranterDeath_LeavesDomain0sMappingUsable_UntilDisposed()
    {
        ulong frame = _w.Grant(_guest, 0, DomainIds.Domain0);
        ulong freeBefore = _w.Memory.FreeFrames;
        HostGrantMapping mapping = _w.Grants.MapForDomain0(_guest.Id, 0, readOnly: false);
        _guest.IsDying = true;
        _w.Grants.ReleaseDomain(_guest);
        _w.Types.ReleaseDomain(_guest.Id);
        _w.Checker.Check("after the granter died");

        mapping.Span[1] = 0x11;
        Assert.Equal(_guest.Id, _w.Memory.OwnerOf(frame));
        Assert.Equal(GrantStatus.BadDomain, _w.Grants.CopyFromGrant(_guest.Id, 0, 0, new byte[1]));
        mapping.Dispose();
        Assert.Equal(DomainIds.Invalid, _w.Memory.OwnerOf(frame));
        Assert.True(_w.Memory.FreeFrames > freeBefore);
    }
}
