using Xenolith.Domain0.Toolstack;
using Xenolith.Domain0.Xenstore;
using Xenolith.Tests.Rings;
using Xenolith.Tests.Xenstore;
using Xunit;

namespace Xenolith.Tests.Toolstack;

/// <summary>The nodes and permissions the toolstack writes for a domain, checked as Domain0 and as the guest sees them.</summary>
public sealed class DomainStoreLayoutTests : IDisposable
{
    private static readonly Guid s_uuid = Guid.Parse("0b6c5a0e-2f3c-4e8a-9d41-7f0c1e2d3a4b");
    private static readonly DomainStoreInfo s_info = new(3, "guest", s_uuid, 16 * 1024, 2, 0x1234, 1, 0x1235, 2)
    {
        KernelPath = "/images/guest.elf",
        CommandLine = "console=hvc0",
    };

    private readonly FakeRingConnector _connector = new();
    private readonly XenstoredService _service;
    private readonly XenstoreLocalClient _dom0;

    public DomainStoreLayoutTests()
    {
        _service = new XenstoredService(_connector);
        _dom0 = _service.ConnectLocal();
        DomainStoreLayout.WriteDomain0(_dom0);
        DomainStoreLayout.Create(_dom0, s_info);
        _dom0.Introduce(3, s_info.StoreMfn, s_info.StorePort);
    }

    public void Dispose()
    {
        _dom0.Dispose();
        _service.Dispose();
    }

    private FakeXenstoreGuest Guest => new(_connector.Rings[3]);

    private IReadOnlyList<string> Perms(string path) => _dom0.GetPermissions(path);

    [Fact]
    public void Domain0_IsNamedDomain0()
    {
        Assert.Equal("Domain-0", _dom0.Read("/local/domain/0/name"));
        Assert.Equal("0", _dom0.Read("/local/domain/0/domid"));
    }

    [Theory]
    [InlineData("name", "guest")]
    [InlineData("domid", "3")]
    [InlineData("vm", "/vm/0b6c5a0e-2f3c-4e8a-9d41-7f0c1e2d3a4b")]
    [InlineData("memory/static-max", "16384")]
    [InlineData("memory/target", "16384")]
    [InlineData("cpu/0/availability", "online")]
    [InlineData("cpu/1/availability", "online")]
    [InlineData("store/ring-ref", "4660")]
    [InlineData("store/port", "1")]
    [InlineData("console/ring-ref", "4661")]
    [InlineData("console/port", "2")]
    [InlineData("console/type", "xenconsoled")]
    [InlineData("console/limit", "1048576")]
    [InlineData("console/output", "pty")]
    [InlineData("console/tty", "")]
    [InlineData("console/backend", "/local/domain/0/backend/console/3/0")]
    [InlineData("console/backend-id", "0")]
    [InlineData("control/platform-feature-xs_reset_watches", "1")]
    public void TheDomainsNodes_HoldWhatXlWrites(string node, string value) =>
        Assert.Equal(value, _dom0.Read("/local/domain/3/" + node));

    [Theory]
    [InlineData("/local/domain/3", "n0", "r3")]
    [InlineData("/local/domain/3/name", "n0", "r3")]
    [InlineData("/local/domain/3/store/ring-ref", "n0", "r3")]
    [InlineData("/local/domain/3/memory", "n0", "r3")]
    [InlineData("/local/domain/3/control", "n0", "r3")]
    [InlineData("/local/domain/3/control/shutdown", "n3")]
    [InlineData("/local/domain/3/control/feature-poweroff", "n3")]
    [InlineData("/local/domain/3/control/sysrq", "n3")]
    [InlineData("/local/domain/3/device/suspend/event-channel", "n3")]
    [InlineData("/local/domain/3/data", "n3")]
    [InlineData("/local/domain/3/drivers", "n3")]
    [InlineData("/local/domain/3/feature", "n3")]
    [InlineData("/local/domain/3/attr", "n3")]
    [InlineData("/local/domain/3/error", "n3")]
    [InlineData("/local/domain/3/console", "n3", "r0")]
    [InlineData("/local/domain/3/console/backend-id", "n3", "r0")]
    [InlineData("/local/domain/3/console/ring-ref", "n0", "r3")]
    [InlineData("/local/domain/3/console/port", "n0", "r3")]
    [InlineData("/vm/0b6c5a0e-2f3c-4e8a-9d41-7f0c1e2d3a4b", "n0", "r3")]
    [InlineData("/libxl/3", "n0")]
    [InlineData("/local/domain/0/backend/console/3/0", "n0", "r3")]
    public void Permissions_AreLibxls(string path, params string[] acl) => Assert.Equal(acl, Perms(path));

    [Fact]
    public void TheVmEntry_NamesTheDomainAndItsImage()
    {
        Assert.Equal(s_uuid.ToString("D"), _dom0.Read(s_info.VmPath + "/uuid"));
        Assert.Equal("guest", _dom0.Read(s_info.VmPath + "/name"));
        Assert.Equal("linux", _dom0.Read(s_info.VmPath + "/image/ostype"));
        Assert.Equal("/images/guest.elf", _dom0.Read(s_info.VmPath + "/image/kernel"));
        Assert.Equal("console=hvc0", _dom0.Read(s_info.VmPath + "/image/cmdline"));
        Assert.Equal("pv", _dom0.Read("/libxl/3/type"));
    }

    [Fact]
    public void TheGuest_ReadsItsNodes_WritesOnlyWhereXlLetsIt()
    {
        FakeXenstoreGuest guest = Guest;
        Assert.Equal("guest", guest.Call(XsMessageType.Read, "name").Single().Text);
        Assert.Equal("4660", guest.Call(XsMessageType.Read, "store/ring-ref").Single().Text);
        Assert.Equal(XsError.EACCES, guest.Call(XsMessageType.Write, "name", "evil").Single().Error);
        Assert.Equal(XsError.EACCES, guest.Call(XsMessageType.Write, "console/ring-ref", "1").Single().Error);
        Assert.Equal(XsError.EACCES, guest.Call(XsMessageType.Write, "newnode", "x").Single().Error);
        Assert.Equal("OK", guest.Call(XsMessageType.Write, "control/shutdown", "").Single().Strings[0]);
        Assert.Equal("OK", guest.Call(XsMessageType.Write, "data/anything", "x").Single().Strings[0]);
        Assert.Equal("OK", guest.Call(XsMessageType.Write, "console/state", "4").Single().Strings[0]);
        // device/ is read-only: the toolstack creates each frontend directory for the guest.
        Assert.Equal(XsError.EACCES, guest.Call(XsMessageType.Write, "device/vif/0/state", "1").Single().Error);
        Assert.Equal(XsError.EACCES, guest.Call(XsMessageType.Read, "/local/domain/0/name").Single().Error);
        Assert.Equal(XsError.EACCES, guest.Call(XsMessageType.Read, "/libxl/3/type").Single().Error);
        Assert.Equal("guest", guest.Call(XsMessageType.Read, s_info.VmPath + "/name").Single().Text);
    }

    [Fact]
    public void Destroy_RemovesWhatXlRemoves()
    {
        _dom0.Release(3);
        DomainStoreLayout.Destroy(_dom0, s_info);

        Assert.Null(_dom0.Read("/local/domain/3"));
        Assert.Null(_dom0.Read(s_info.VmPath));
        Assert.Null(_dom0.Read("/libxl/3"));
        Assert.Null(_dom0.Read("/local/domain/0/backend/console/3"));
        Assert.Equal("Domain-0", _dom0.Read("/local/domain/0/name"));
    }

    [Fact]
    public void Create_AgainForTheSameId_StartsFromAClean()
    {
        _dom0.Write("/local/domain/3/data/stale", "x");
        DomainStoreLayout.Create(_dom0, s_info with { Name = "again" });

        Assert.Null(_dom0.Read("/local/domain/3/data/stale"));
        Assert.Equal("again", _dom0.Read("/local/domain/3/name"));
    }
}
