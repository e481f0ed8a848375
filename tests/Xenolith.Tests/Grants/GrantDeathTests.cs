using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Memory;
using Xunit;

namespace Xenolith.Tests.Grants;

/// <summary>
/// Either side dying while a grant is mapped, in Domain.Dispose's order (grants, then page types):
/// the granter's status bits clear when the mapper dies, frames stay with their holders when the
/// granter dies, and every count stays right.
/// </summary>
public sealed class GrantDeathTests : GranterAndMapper
{

    private void Kill(FakeGrantDomain domain)
    {
        domain.IsDying = true;
        _w.Grants.ReleaseDomain(domain);
        _w.Types.ReleaseDomain(domain.Id);
        _w.Checker.Check(() => $"after domain {domain.Id} died");
    }

    [Fact]
    public void MapperDeath_ReturnsPinsAndReferences_AndClearsTheGrantersBits()
    {
        ulong host = _w.Grant(_granter, 1, _mapper.Id);
        ulong device = _w.Grant(_granter, 2, _mapper.Id, readOnly: true);
        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _granter.Id, 1, GrantMapFlags.HostMap).Status);
        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _granter.Id, 2, GrantMapFlags.DeviceMap | GrantMapFlags.ReadOnly, 0).Status);

        Kill(_mapper);

        Assert.Equal(Permit, _w.Flags(_granter, 1));
        Assert.Equal(Permit | GrantEntryFlags.ReadOnly, _w.Flags(_granter, 2));
        foreach (ulong frame in new[] { host, device })
        {
            PageInfo page = _w.Memory.Page(frame);
            Assert.Equal((_granter.Id, 1u, 0u, 0u), (page.Owner, page.RefCount, page.ForeignRefs, page.TypeCount));
        }
        Assert.Equal(0, _mapper.Grants.MappingsInUse);
    }

    [Fact]
    public void GranterDeath_KeepsTheMappedFrameForTheMapper_ThenItsUnmapFreesIt()
    {
        ulong frame = _w.Grant(_granter, 1, _mapper.Id);
        ulong[] tableFrames = _w.TableFrames(_granter);
        GrantMapGrantRef host = _w.Map(_mapper, _cr3, _granter.Id, 1, GrantMapFlags.HostMap);
        GrantMapGrantRef device = _w.Map(_mapper, _cr3, _granter.Id, 1, GrantMapFlags.DeviceMap, 0);
        _w.Memory.Frame(frame)[0] = 0x99;

        Kill(_granter);

        Assert.Equal(_granter.Id, _w.Memory.OwnerOf(frame));
        Assert.Equal(0x99, _w.Memory.Frame(frame)[0]);
        Assert.Equal(DomainIds.Invalid, _w.Memory.OwnerOf(tableFrames[0]));   // the table went with its domain
        Assert.Equal(frame, Pte.Mfn(_w.EntryAt(_l1, 0)));
        Assert.Equal(GrantStatus.BadDomain, _w.Map(_mapper, _cr3, _granter.Id, 1, GrantMapFlags.HostMap, GrantWorld.MapBase + 0x1000).Status);

        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, host.Handle, GrantWorld.MapBase, 0));
        Assert.Equal(_granter.Id, _w.Memory.OwnerOf(frame));   // the device mapping still holds it
        Assert.Equal(GrantStatus.Okay, _w.Grants.Unmap(_mapper, _cr3, device.Handle, 0, device.DevBusAddr));
        Assert.Equal(DomainIds.Invalid, _w.Memory.OwnerOf(frame));
        Assert.Equal(0, _w.Memory.Frame(frame)[0]);            // scrubbed on its way back to the pool
        Assert.Equal(0, _mapper.Grants.MappingsInUse);
    }

    [Fact]
    public void GranterDeathThenMapperDeath_FreesEverything()
    {
        ulong frame = _w.Grant(_granter, 1, _mapper.Id);
        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _granter.Id, 1, GrantMapFlags.HostMap).Status);
        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _granter.Id, 1, GrantMapFlags.DeviceMap, 0).Status);
        ulong free = _w.Memory.FreeFrames;

        Kill(_granter);
        Kill(_mapper);

        Assert.Equal(DomainIds.Invalid, _w.Memory.OwnerOf(frame));
        Assert.Equal(_w.Memory.FrameCount - 1 - (ulong)_w.Memory.MachineToPhysFrames.Count, _w.Memory.FreeFrames);
        Assert.True(_w.Memory.FreeFrames > free);
    }

    [Fact]
    public void ADomainMappingItsOwnGrant_Dies_Cleanly()
    {
        _w.Grant(_mapper, 1, _mapper.Id);
        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _mapper.Id, 1, GrantMapFlags.HostMap).Status);
        Assert.Equal(GrantStatus.Okay, _w.Map(_mapper, _cr3, _mapper.Id, 1, GrantMapFlags.DeviceMap, 0).Status);
        Kill(_mapper);
    }

    [Fact]
    public void TheTablesFrames_CannotBecomePageTables_AndAreTheTablesUntilItsDomainDies()
    {
        ulong[] frames = _w.TableFrames(_granter, 3);
        Assert.Equal(3, frames.Length);
        lock (_w.Memory.SyncRoot)
            Assert.Equal(-XenErrno.EINVAL, _w.Types.Pin(frames[1], FrameType.L1PageTable, _granter));
        Assert.True(_granter.Grants.IsTableFrame(frames[2]));
        Kill(_granter);
        Assert.False(_granter.Grants.IsTableFrame(frames[2]));
        Assert.All(frames, mfn => Assert.Equal(DomainIds.Invalid, _w.Memory.OwnerOf(mfn)));
    }
}
