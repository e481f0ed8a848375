using Xenolith.Domain0.Xenstore;
using Xunit;

namespace Xenolith.Tests.Xenstore;

public sealed class XenstoreTransactionTests
{
    private readonly XsFixture _f = new();

    [Fact]
    public void ChangesAreInvisibleUntilCommitted()
    {
        uint tx = _f.Dom0.Start();
        Assert.NotEqual(0u, tx);
        _f.Dom0.Ok(_f.Dom0.Write("/t/a", "1", tx));
        Assert.Equal("1", _f.Dom0.Read("/t/a", tx).Text);
        Assert.Equal(["a"], _f.Dom0.Directory("/t", tx).Strings);
        Assert.Equal("ENOENT", _f.Dom0.Read("/t/a").Error);
        XsReply end = _f.Dom0.End(tx);
        Assert.Equal(["OK"], end.Strings);
        Assert.Equal("1", _f.Dom0.ReadText("/t/a"));
    }

    [Fact]
    public void AbortDiscards()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/t/keep", "old"));
        uint tx = _f.Dom0.Start();
        _f.Dom0.Ok(_f.Dom0.Write("/t/keep", "new", tx));
        _f.Dom0.Ok(_f.Dom0.Rm("/t", tx));
        Assert.Equal("ENOENT", _f.Dom0.Read("/t/keep", tx).Error);
        _f.Dom0.Ok(_f.Dom0.End(tx, commit: false));
        Assert.Equal("old", _f.Dom0.ReadText("/t/keep"));
        Assert.Equal("ENOENT", _f.Dom0.End(tx).Error);
    }

    [Fact]
    public void AllOperationsWorkInTransactions()
    {
        _f.Guest1.Ok(_f.Guest1.Write("x", "1"));
        uint tx = _f.Guest1.Start();
        _f.Guest1.Ok(_f.Guest1.Mkdir("d/e", tx));
        _f.Guest1.Ok(_f.Guest1.SetPermsTx(tx, "x", "r1"));
        Assert.Equal(["r1"], _f.Guest1.GetPerms("x", tx).Strings);
        Assert.Equal(["n1", "r0"], _f.Guest1.GetPerms("x").Strings);
        _f.Guest1.Ok(_f.Guest1.Rm("x", tx));
        XsReply part = _f.Guest1.Send(XsMessageType.DirectoryPart, XsWire.Strings("d", "0"), tx);
        Assert.EndsWith("\0e\0\0", part.Text, StringComparison.Ordinal);
        _f.Guest1.Ok(_f.Guest1.End(tx));
        Assert.Equal("ENOENT", _f.Guest1.Read("x").Error);
        Assert.Equal("", _f.Guest1.ReadText("d/e"));
    }

    [Fact]
    public void ConflictingWriteGivesEagain()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/c/a", "0"));
        uint tx = _f.Dom0.Start();
        Assert.Equal("0", _f.Dom0.Read("/c/a", tx).Text);
        _f.Dom0.Ok(_f.Dom0.Write("/c/b", "1", tx));
        _f.Guest1.Ok(_f.Guest1.Write("unrelated", "x"));
        _f.Dom0.Ok(_f.Dom0.Write("/c/a", "other"));
        Assert.Equal("EAGAIN", _f.Dom0.End(tx).Error);
        Assert.Equal("ENOENT", _f.Dom0.Read("/c/b").Error);
        Assert.Equal("other", _f.Dom0.ReadText("/c/a"));
        Assert.Equal("ENOENT", _f.Dom0.End(tx).Error);
    }

    [Fact]
    public void UnrelatedWritesDoNotConflict()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/c/a", "0"));
        _f.Dom0.Ok(_f.Dom0.Write("/d/a", "0"));
        uint tx = _f.Dom0.Start();
        _f.Dom0.Ok(_f.Dom0.Write("/c/a", "1", tx));
        _f.Dom0.Ok(_f.Dom0.Write("/d/a", "2"));
        _f.Dom0.Ok(_f.Dom0.End(tx));
        Assert.Equal("1", _f.Dom0.ReadText("/c/a"));
    }

    [Fact]
    public void ConcurrentTransactionsFirstCommitWins()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/n", "0"));
        uint t1 = _f.Dom0.Start();
        uint t2 = _f.Dom0.Start();
        Assert.NotEqual(t1, t2);
        _f.Dom0.Ok(_f.Dom0.Write("/n", _f.Dom0.Read("/n", t1).Text + "1", t1));
        _f.Dom0.Ok(_f.Dom0.Write("/n", _f.Dom0.Read("/n", t2).Text + "2", t2));
        _f.Dom0.Ok(_f.Dom0.End(t1));
        Assert.Equal("EAGAIN", _f.Dom0.End(t2).Error);
        Assert.Equal("01", _f.Dom0.ReadText("/n"));
    }

    [Fact]
    public void RemovalAndRecreationIsAConflict()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/c/a", "0"));
        uint tx = _f.Dom0.Start();
        _f.Dom0.Read("/c/a", tx);
        _f.Dom0.Ok(_f.Dom0.Rm("/c/a"));
        _f.Dom0.Ok(_f.Dom0.Write("/c/a", "0"));
        Assert.Equal("EAGAIN", _f.Dom0.End(tx).Error);
    }

    [Fact]
    public void ReadingAMissingNodeThatAppearsIsAConflict()
    {
        uint tx = _f.Dom0.Start();
        Assert.Equal("ENOENT", _f.Dom0.Read("/late", tx).Error);
        _f.Dom0.Ok(_f.Dom0.Write("/late", "1"));
        Assert.Equal("EAGAIN", _f.Dom0.End(tx).Error);
    }

    [Fact]
    public void TransactionErrors()
    {
        Assert.Equal("ENOENT", _f.Dom0.Read("/x", tx: 12345).Error);
        Assert.Equal("ENOENT", _f.Dom0.Write("/x", "v", tx: 12345).Error);
        Assert.Equal("ENOENT", _f.Dom0.End(12345).Error);
        Assert.Equal("ENOENT", _f.Dom0.End(0).Error);
        uint tx = _f.Dom0.Start();
        Assert.Equal("EBUSY", _f.Dom0.Send(XsMessageType.TransactionStart, XsWire.Strings(""), tx).Error);
        Assert.Equal("EINVAL", _f.Dom0.Send(XsMessageType.TransactionEnd, XsWire.Strings("X"), tx).Error);
        // Transactions belong to their connection.
        Assert.Equal("ENOENT", _f.Guest1.Read("/x", tx).Error);
        _f.Dom0.Ok(_f.Dom0.End(tx));
    }

    [Fact]
    public void QuotaCountsInsideTransactions()
    {
        var f = new XsFixture(new XenstoreQuota(MaxEntriesPerDomain: 3));
        uint tx = f.Guest1.Start();
        f.Guest1.Ok(f.Guest1.Write("a", "", tx));
        f.Guest1.Ok(f.Guest1.Write("b", "", tx));
        Assert.Equal("EQUOTA", f.Guest1.Write("c", "", tx).Error);
        f.Guest1.Ok(f.Guest1.End(tx));
        Assert.Equal(3, f.Daemon.Tree.OwnedBy(1));
    }
}
