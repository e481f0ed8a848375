using Xenolith.Domain0.Xenstore;
using Xunit;

namespace Xenolith.Tests.Xenstore;

public sealed class XenstoreWatchTests
{
    private readonly XsFixture _f = new();

    private List<(string, string)> Events(XsClient watcher, XsClient actor) => XsFixture.For(watcher, actor.LastEvents);

    [Fact]
    public void WatchFiresOnceStraightAway()
    {
        XsReply reply = _f.Dom0.Watch("/w", "tok");
        Assert.Equal(["OK"], reply.Strings);
        Assert.Equal([("/w", "tok")], Events(_f.Dom0, _f.Dom0));
        XenstoreEvent ev = Assert.Single(_f.Dom0.LastEvents);
        Assert.Equal([.. XsWire.Encode(XsMessageType.WatchEvent, 0, 0, XsWire.Strings("/w", "tok"))], ev.Encode());
    }

    [Fact]
    public void FiresForTheNodeAndItsSubtreeOnly()
    {
        _f.Dom0.Ok(_f.Dom0.Watch("/w", "tok"));
        _f.Dom0.Ok(_f.Dom0.Write("/w", "1"));
        Assert.Equal([("/w", "tok")], Events(_f.Dom0, _f.Dom0));
        _f.Dom0.Ok(_f.Dom0.Write("/w/a/b", "1"));
        Assert.Equal([("/w/a/b", "tok")], Events(_f.Dom0, _f.Dom0));
        _f.Dom0.Ok(_f.Dom0.Write("/wx", "1"));
        Assert.Empty(Events(_f.Dom0, _f.Dom0));
        _f.Dom0.Ok(_f.Dom0.Write("/other/w", "1"));
        Assert.Empty(Events(_f.Dom0, _f.Dom0));
        _f.Dom0.Ok(_f.Dom0.Mkdir("/w/m"));
        Assert.Equal([("/w/m", "tok")], Events(_f.Dom0, _f.Dom0));
        // mkdir of an existing node changes nothing.
        _f.Dom0.Ok(_f.Dom0.Mkdir("/w/m"));
        Assert.Empty(Events(_f.Dom0, _f.Dom0));
    }

    [Fact]
    public void FiresForOtherConnections()
    {
        XsClient other = new(_f.Daemon, _f.Daemon.Connect(0));
        other.Ok(other.Watch("/w", "o"));
        _f.Dom0.Ok(_f.Dom0.Write("/w/x", "1"));
        Assert.Equal([("/w/x", "o")], Events(other, _f.Dom0));
    }

    [Fact]
    public void RootWatchSeesEverythingButSpecialEvents()
    {
        _f.Dom0.Ok(_f.Dom0.Watch("/", "root"));
        _f.Dom0.Ok(_f.Dom0.Write("/a/b", "1"));
        Assert.Equal([("/a/b", "root")], Events(_f.Dom0, _f.Dom0));
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.Introduce, "9", "1", "1"));
        Assert.Empty(Events(_f.Dom0, _f.Dom0));
    }

    [Fact]
    public void RemovalFiresForWatchesInsideTheSubtreeWithTheirOwnPath()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/r/a/b/c", "1"));
        _f.Dom0.Ok(_f.Dom0.Watch("/r/a/b", "inner"));
        _f.Dom0.Ok(_f.Dom0.Watch("/r", "outer"));
        _f.Dom0.Ok(_f.Dom0.Watch("/r/a/b/c/missing", "deep"));
        _f.Dom0.Ok(_f.Dom0.Rm("/r/a"));
        List<(string, string)> events = Events(_f.Dom0, _f.Dom0);
        Assert.Equal(3, events.Count);
        Assert.Contains(("/r/a/b", "inner"), events);
        Assert.Contains(("/r/a", "outer"), events);
        Assert.Contains(("/r/a/b/c/missing", "deep"), events);
    }

    [Fact]
    public void FiresOnPermissionChange()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/p/x", "1"));
        _f.Dom0.Ok(_f.Dom0.Watch("/p", "t"));
        _f.Dom0.Ok(_f.Dom0.SetPerms("/p/x", "r0"));
        Assert.Equal([("/p/x", "t")], Events(_f.Dom0, _f.Dom0));
    }

    [Fact]
    public void APermissionChangeThatRevokesReading_IsStillAnnouncedToWhoCouldReadBefore()
    {
        _f.Guest1.Ok(_f.Guest1.Write("shared", "1"));
        _f.Guest1.Ok(_f.Guest1.SetPerms("shared", "n1", "r2"));
        _f.Guest2.Ok(_f.Guest2.Watch("/local/domain/1/shared", "w"));
        Assert.Equal([("/local/domain/1/shared", "w")], Events(_f.Guest2, _f.Guest2));

        _f.Guest1.Ok(_f.Guest1.SetPerms("shared", "n1"));
        Assert.Equal([("/local/domain/1/shared", "w")], Events(_f.Guest2, _f.Guest1));
        // From now on Guest2 can read it under neither the old nor the new permissions.
        _f.Guest1.Ok(_f.Guest1.Write("shared", "2"));
        Assert.Empty(Events(_f.Guest2, _f.Guest1));
    }

    [Fact]
    public void ATransactionThatCreatesAndThenSharesANode_IsAnnouncedOnceToTheNewReader()
    {
        _f.Guest2.Ok(_f.Guest2.Watch("/local/domain/1/data", "w"));
        _ = Events(_f.Guest2, _f.Guest2);
        uint tx = _f.Guest1.Start();
        _f.Guest1.Ok(_f.Guest1.Write("data/ref", "8", tx));
        _f.Guest1.Ok(_f.Guest1.SetPermsTx(tx, "data/ref", "n1", "r2"));
        _f.Guest1.Ok(_f.Guest1.Write("data/ref", "9", tx));
        Assert.Empty(Events(_f.Guest2, _f.Guest1));

        _f.Guest1.Ok(_f.Guest1.End(tx));
        Assert.Equal([("/local/domain/1/data/ref", "w")], Events(_f.Guest2, _f.Guest1));
    }

    [Fact]
    public void RelativeWatchesGetRelativePaths()
    {
        _f.Guest1.Ok(_f.Guest1.Watch("device", "dev"));
        Assert.Equal([("device", "dev")], Events(_f.Guest1, _f.Guest1));
        _f.Dom0.Ok(_f.Dom0.Write("/local/domain/1/device/vbd/51712/state", "4"));
        Assert.Equal([("device/vbd/51712/state", "dev")], Events(_f.Guest1, _f.Dom0));

        _f.Guest1.Ok(_f.Guest1.Watch("/local/domain/1/device", "abs"));
        _f.Guest1.Ok(_f.Guest1.Write("device/x", "1"));
        List<(string, string)> events = Events(_f.Guest1, _f.Guest1);
        Assert.Contains(("device/x", "dev"), events);
        Assert.Contains(("/local/domain/1/device/x", "abs"), events);
    }

    [Fact]
    public void UnreadableChangesAreNotAnnounced()
    {
        _f.Guest2.Ok(_f.Guest2.Watch("/local/domain/1", "spy"));
        _f.Guest1.Ok(_f.Guest1.Write("secret", "s"));
        Assert.Empty(Events(_f.Guest2, _f.Guest1));
        _f.Guest1.Ok(_f.Guest1.Write("public", "p"));
        _f.Guest1.Ok(_f.Guest1.SetPerms("public", "r1"));
        Assert.Equal([("/local/domain/1/public", "spy")], Events(_f.Guest2, _f.Guest1));
    }

    [Fact]
    public void SpecialWatches()
    {
        _f.Dom0.Ok(_f.Dom0.Watch("@introduceDomain", "i"));
        _f.Dom0.Ok(_f.Dom0.Watch("@releaseDomain", "r"));
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.Introduce, "5", "1", "1"));
        Assert.Equal([("@introduceDomain", "i")], Events(_f.Dom0, _f.Dom0));
        // Introducing again is a no-op.
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.Introduce, "5", "1", "1"));
        Assert.Empty(Events(_f.Dom0, _f.Dom0));
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.Release, "5"));
        Assert.Equal([("@releaseDomain", "r")], Events(_f.Dom0, _f.Dom0));

        IReadOnlyList<XenstoreEvent> died = _f.Daemon.ReleaseDomain(2);
        Assert.Equal([("@releaseDomain", "r")], XsFixture.For(_f.Dom0, died));
        Assert.Empty(_f.Daemon.ReleaseDomain(2));
    }

    [Fact]
    public void UnwatchStopsEventsAndDuplicatesAreRefused()
    {
        _f.Dom0.Ok(_f.Dom0.Watch("/w", "t"));
        Assert.Equal("EEXIST", _f.Dom0.Watch("/w", "t").Error);
        _f.Dom0.Ok(_f.Dom0.Watch("/w", "t2"));
        _f.Dom0.Ok(_f.Dom0.Unwatch("/w", "t"));
        Assert.Equal("ENOENT", _f.Dom0.Unwatch("/w", "t").Error);
        _f.Dom0.Ok(_f.Dom0.Write("/w", "1"));
        Assert.Equal([("/w", "t2")], Events(_f.Dom0, _f.Dom0));
    }

    [Fact]
    public void WatchPathsAreValidated()
    {
        Assert.Equal("EINVAL", _f.Dom0.Watch("/a//b", "t").Error);
        Assert.Equal("EINVAL", _f.Dom0.Watch("", "t").Error);
        Assert.Equal("EINVAL", _f.Dom0.Watch("@bad path", "t").Error);
    }

    [Fact]
    public void TransactionChangesFireOnceOnCommit()
    {
        _f.Dom0.Ok(_f.Dom0.Watch("/t", "w"));
        uint tx = _f.Dom0.Start();
        _f.Dom0.Ok(_f.Dom0.Write("/t/a", "1", tx));
        Assert.Empty(_f.Dom0.LastEvents);
        _f.Dom0.Ok(_f.Dom0.Write("/t/a", "2", tx));
        _f.Dom0.Ok(_f.Dom0.Write("/t/a", "3", tx));
        _f.Dom0.Ok(_f.Dom0.Write("/t/b", "3", tx));
        Assert.Empty(_f.Dom0.LastEvents);
        _f.Dom0.Ok(_f.Dom0.End(tx));
        Assert.Equal([("/t/a", "w"), ("/t/b", "w")], Events(_f.Dom0, _f.Dom0));
    }

    [Fact]
    public void AbortedOrFailedTransactionsFireNothing()
    {
        _f.Dom0.Ok(_f.Dom0.Watch("/t", "w"));
        uint tx = _f.Dom0.Start();
        _f.Dom0.Ok(_f.Dom0.Write("/t/a", "1", tx));
        _f.Dom0.Ok(_f.Dom0.End(tx, commit: false));
        Assert.Empty(_f.Dom0.LastEvents);

        tx = _f.Dom0.Start();
        _f.Dom0.Ok(_f.Dom0.Write("/t/a", "1", tx));
        _f.Dom0.Ok(_f.Dom0.Write("/t/a", "outside"));
        Assert.Single(_f.Dom0.LastEvents);
        Assert.Equal("EAGAIN", _f.Dom0.End(tx).Error);
        Assert.Empty(_f.Dom0.LastEvents);
    }
}
