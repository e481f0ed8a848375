using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Grants;
using Xenolith.Tests.Integration;
using Xunit;

namespace Xenolith.Tests.Grants;

/// <summary>The grant service wired into real domains (built, not run): table frames are hypervisor pages, and Domain.Dispose keeps a frame Domain0 still maps.</summary>
public sealed class GrantDomainTests
{
    [KvmFact]
    public void Domain0MappingOutlivesTheGranter_AndTheTableFramesCannotBeGivenBack()
    {
        using var xen = new XenHypervisor(64UL << 20);
        ulong freeAtStart = xen.Memory.FreeFrames;
        Domain guest = GuestRunner.Build(xen, "hello");
        Assert.Equal(GrantStatus.Okay, xen.Grants.SetupTable(guest, DomainIds.Self, 2, out ulong[] frames));
        Assert.True(guest.IsHypervisorPage(frames[1]));
        Assert.False(guest.IsHypervisorPage(guest.P2m[5]));

        // What the guest's frontend does: grant one of its pages to Domain0 (entry 9 of frame 0).
        ulong page = guest.P2m[5];
        xen.Memory.Block.Write((frames[0] << 12) + 9 * 8, new GrantEntryV1 { DomId = DomainIds.Domain0, Frame = (uint)page, Flags = GrantEntryFlags.PermitAccess });
        HostGrantMapping mapping = xen.Grants.MapForDomain0(guest.Id, 9, readOnly: false);
        mapping.Span[0] = 0xee;
        Assert.Equal(GrantEntryFlags.PermitAccess | GrantEntryFlags.Reading | GrantEntryFlags.Writing, xen.Grants.TableOf(guest)!.ReadEntry(9).Flags);

        guest.Dispose();

        Assert.Equal(0xee, mapping.ReadOnlySpan[0]);
        Assert.Equal(freeAtStart - 1, xen.Memory.FreeFrames);   // only the mapped frame is still out
        mapping.Dispose();
        Assert.Equal(freeAtStart, xen.Memory.FreeFrames);
    }
}
