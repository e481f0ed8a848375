using Xenolith.Domain0.Xenstore;
using Xunit;

namespace Xenolith.Tests.Xenstore;

public sealed class XenstoreDaemonTests
{
    private readonly XsFixture _f = new();

    [Fact]
    public void WriteThenRead()
    {
        XsReply reply = _f.Dom0.Write("/tool/x", "hello");
        Assert.Equal(XsMessageType.Write, reply.Type);
        Assert.Equal(["OK"], reply.Strings);
        Assert.Equal("hello", _f.Dom0.ReadText("/tool/x"));
        Assert.Equal("", _f.Dom0.ReadText("/tool"));
    }

    [Fact]
    public void ValuesAreBinary()
    {
        byte[] value = [0, 1, 255, 0];
        _f.Dom0.Ok(_f.Dom0.Write("/bin", value));
        Assert.Equal(value, _f.Dom0.Read("/bin").Payload);
    }

    [Fact]
    public void ReadMissingIsEnoent()
    {
        Assert.Equal("ENOENT", _f.Dom0.Read("/nope").Error);
        Assert.Equal("ENOENT", _f.Dom0.Read("/nope/deeper").Error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/a/")]
    [InlineData("/a//b")]
    [InlineData("/a b")]
    [InlineData("@introduceDomain")]
    public void InvalidPathsAreEinval(string path)
    {
        Assert.Equal("EINVAL", _f.Dom0.Read(path).Error);
        Assert.Equal("EINVAL", _f.Dom0.Write(path, "v").Error);
        Assert.Equal("EINVAL", _f.Dom0.Mkdir(path).Error);
    }

    [Fact]
    public void RelativePathsAreUnderTheDomainPath()
    {
        _f.Guest1.Ok(_f.Guest1.Write("device/vif/0/state", "1"));
        Assert.Equal("1", _f.Dom0.ReadText("/local/domain/1/device/vif/0/state"));
        Assert.Equal("1", _f.Guest1.ReadText("/local/domain/1/device/vif/0/state"));
        Assert.Equal("ENOENT", _f.Guest2.Read("device/vif/0/state").Error);
    }

    [Fact]
    public void WriteCreatesParentsWithInheritedPermissionsAndCallerAsOwner()
    {
        _f.Guest1.Ok(_f.Guest1.Write("a/b/c", "v"));
        foreach (string p in new[] { "a", "a/b", "a/b/c" })
            Assert.Equal(["n1", "r0"], _f.Guest1.GetPerms(p).Strings);

        _f.Dom0.Ok(_f.Dom0.Mkdir("/local/domain/1/shared"));
        _f.Dom0.Ok(_f.Dom0.SetPerms("/local/domain/1/shared", "r1", "b2"));
        _f.Guest2.Ok(_f.Guest2.Write("/local/domain/1/shared/x/y", "from2"));
        Assert.Equal(["r2", "b2"], _f.Dom0.GetPerms("/local/domain/1/shared/x/y").Strings);
        Assert.Equal(["r2", "b2"], _f.Dom0.GetPerms("/local/domain/1/shared/x").Strings);

        // Domain0 keeps the parent's owner.
        _f.Dom0.Ok(_f.Dom0.Write("/local/domain/1/fromdom0", "v"));
        Assert.Equal(["n1", "r0"], _f.Dom0.GetPerms("/local/domain/1/fromdom0").Strings);
    }

    [Fact]
    public void MkdirCreatesAndLeavesExistingAlone()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/m/x", "keep"));
        _f.Dom0.Ok(_f.Dom0.Mkdir("/m/x"));
        Assert.Equal("keep", _f.Dom0.ReadText("/m/x"));
        _f.Dom0.Ok(_f.Dom0.Mkdir("/m/y/z"));
        Assert.Equal("", _f.Dom0.ReadText("/m/y/z"));
        Assert.Equal(["x", "y"], _f.Dom0.Directory("/m").Strings);
    }

    [Fact]
    public void RmIsRecursive()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/r/a/b/c", "1"));
        _f.Dom0.Ok(_f.Dom0.Write("/r/a/d", "2"));
        _f.Dom0.Ok(_f.Dom0.Write("/r/e", "3"));
        int before = _f.Daemon.Tree.Count;
        _f.Dom0.Ok(_f.Dom0.Rm("/r/a"));
        Assert.Equal(before - 4, _f.Daemon.Tree.Count);
        Assert.Equal("ENOENT", _f.Dom0.Read("/r/a/b/c").Error);
        Assert.Equal(["e"], _f.Dom0.Directory("/r").Strings);
    }

    [Fact]
    public void RmMissingIsOkOnlyIfParentExists()
    {
        _f.Dom0.Ok(_f.Dom0.Mkdir("/r"));
        _f.Dom0.Ok(_f.Dom0.Rm("/r/missing"));
        Assert.Equal("ENOENT", _f.Dom0.Rm("/r/missing/deeper").Error);
        Assert.Equal("EINVAL", _f.Dom0.Rm("/").Error);
    }

    [Fact]
    public void DirectoryListsChildrenInCreationOrder()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/d/zeta", ""));
        _f.Dom0.Ok(_f.Dom0.Write("/d/alpha", ""));
        _f.Dom0.Ok(_f.Dom0.Write("/d/mid/deep", ""));
        Assert.Equal(["zeta", "alpha", "mid"], _f.Dom0.Directory("/d").Strings);
        Assert.Empty(_f.Dom0.Directory("/d/zeta").Payload);
        Assert.Equal("ENOENT", _f.Dom0.Directory("/nope").Error);
    }

    [Fact]
    public void DirectoryTooLargeIsE2bigButDirectoryPartPages()
    {
        var names = new List<string>();
        for (int i = 0; i < 150; i++)
        {
            string name = $"child-with-a-rather-long-name-{i:D4}";
            names.Add(name);
            _f.Dom0.Ok(_f.Dom0.Mkdir("/big/" + name));
        }
        Assert.Equal("E2BIG", _f.Dom0.Directory("/big").Error);

        var collected = new List<string>();
        string? generation = null;
        int offset = 0;
        for (int round = 0; round < 10; round++)
        {
            XsReply part = _f.Dom0.Send(XsMessageType.DirectoryPart, "/big", offset.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.False(part.IsError, part.Error);
            Assert.True(part.Payload.Length <= XsWire.PayloadMax);
            IReadOnlyList<string> strings = part.Strings;
            generation ??= strings[0];
            Assert.Equal(generation, strings[0]);
            bool end = part.Payload.Length >= 2 && part.Payload[^1] == 0 && part.Payload[^2] == 0;
            IEnumerable<string> children = strings.Skip(1).Where(s => s.Length > 0);
            foreach (string c in children)
            {
                collected.Add(c);
                offset += c.Length + 1;
            }
            if (end)
                break;
        }
        Assert.Equal(names, collected);

        _f.Dom0.Ok(_f.Dom0.Mkdir("/big/another"));
        XsReply after = _f.Dom0.Send(XsMessageType.DirectoryPart, "/big", "0");
        Assert.NotEqual(generation, after.Strings[0]);
    }

    [Fact]
    public void DirectoryPartSmallAndErrors()
    {
        _f.Dom0.Ok(_f.Dom0.Write("/p/a", ""));
        _f.Dom0.Ok(_f.Dom0.Write("/p/bb", ""));
        XsReply all = _f.Dom0.Send(XsMessageType.DirectoryPart, "/p", "0");
        Assert.EndsWith("\0a\0bb\0\0", all.Text, StringComparison.Ordinal);
        XsReply tail = _f.Dom0.Send(XsMessageType.DirectoryPart, "/p", "2");
        Assert.EndsWith("\0bb\0\0", tail.Text, StringComparison.Ordinal);
        XsReply empty = _f.Dom0.Send(XsMessageType.DirectoryPart, "/p", "5");
        Assert.EndsWith("\0\0", empty.Text, StringComparison.Ordinal);
        Assert.Equal("EINVAL", _f.Dom0.Send(XsMessageType.DirectoryPart, "/p", "6").Error);
        Assert.Equal("EINVAL", _f.Dom0.Send(XsMessageType.DirectoryPart, "/p", "x").Error);
        Assert.Equal("ENOENT", _f.Dom0.Send(XsMessageType.DirectoryPart, "/q", "0").Error);
        Assert.Equal("EACCES", _f.Guest2.Send(XsMessageType.DirectoryPart, "/local/domain/1", "0").Error);
    }

    [Fact]
    public void GuestsCannotReadOrWriteOthersNodes()
    {
        _f.Guest1.Ok(_f.Guest1.Write("secret", "s"));
        Assert.Equal("EACCES", _f.Guest2.Read("/local/domain/1/secret").Error);
        Assert.Equal("EACCES", _f.Guest2.Write("/local/domain/1/secret", "x").Error);
        Assert.Equal("EACCES", _f.Guest2.Write("/local/domain/1/new", "x").Error);
        Assert.Equal("EACCES", _f.Guest2.Mkdir("/local/domain/1/new").Error);
        Assert.Equal("EACCES", _f.Guest2.Rm("/local/domain/1/secret").Error);
        Assert.Equal("EACCES", _f.Guest2.Directory("/local/domain/1").Error);
        Assert.Equal("EACCES", _f.Guest2.GetPerms("/local/domain/1/secret").Error);
        Assert.Equal("EACCES", _f.Guest2.SetPerms("/local/domain/1/secret", "b2").Error);
        // A missing node under an unreadable one does not reveal that it is missing.
        Assert.Equal("EACCES", _f.Guest2.Read("/local/domain/1/missing").Error);
        // Nor may guests write outside their own space.
        Assert.Equal("EACCES", _f.Guest1.Write("/tool/x", "x").Error);
        Assert.Equal("s", _f.Dom0.ReadText("/local/domain/1/secret"));
    }

    [Fact]
    public void AclEntriesGrantAccess()
    {
        _f.Guest1.Ok(_f.Guest1.Write("ro", "v"));
        _f.Guest1.Ok(_f.Guest1.SetPerms("ro", "n1", "r2"));
        Assert.Equal("v", _f.Guest2.ReadText("/local/domain/1/ro"));
        Assert.Equal("EACCES", _f.Guest2.Write("/local/domain/1/ro", "x").Error);

        _f.Guest1.Ok(_f.Guest1.Write("wo", "v"));
        _f.Guest1.Ok(_f.Guest1.SetPerms("wo", "n1", "w2"));
        _f.Guest2.Ok(_f.Guest2.Write("/local/domain/1/wo", "x"));
        Assert.Equal("EACCES", _f.Guest2.Read("/local/domain/1/wo").Error);

        // The first entry is the default for everyone not listed.
        _f.Guest1.Ok(_f.Guest1.Write("pub", "v"));
        _f.Guest1.Ok(_f.Guest1.SetPerms("pub", "r1"));
        Assert.Equal("v", _f.Guest2.ReadText("/local/domain/1/pub"));
        _f.Guest1.Ok(_f.Guest1.SetPerms("pub", "r1", "n2"));
        Assert.Equal("EACCES", _f.Guest2.Read("/local/domain/1/pub").Error);
    }

    [Fact]
    public void SetPermsRules()
    {
        _f.Guest1.Ok(_f.Guest1.Write("x", "v"));
        Assert.Equal(["n1", "r0"], _f.Guest1.GetPerms("x").Strings);
        Assert.Equal("EINVAL", _f.Guest1.SetPerms("x", "q1").Error);
        Assert.Equal("EINVAL", _f.Guest1.Send(XsMessageType.SetPerms, "x", "").Error);
        Assert.Equal("ENOENT", _f.Guest1.SetPerms("missing", "n1").Error);
        // Guests may not give nodes away; Domain0 may.
        Assert.Equal("EPERM", _f.Guest1.SetPerms("x", "n2").Error);
        _f.Dom0.Ok(_f.Dom0.SetPerms("/local/domain/1/x", "n2"));
        Assert.Equal(["n2"], _f.Dom0.GetPerms("/local/domain/1/x").Strings);
        Assert.Equal("v", _f.Guest2.ReadText("/local/domain/1/x"));
        Assert.Equal("EACCES", _f.Guest1.Read("x").Error);
        // Write access is not ownership.
        _f.Guest1.Ok(_f.Guest1.Write("y", "v"));
        _f.Guest1.Ok(_f.Guest1.SetPerms("y", "n1", "b2"));
        Assert.Equal("EACCES", _f.Guest2.SetPerms("/local/domain/1/y", "b1").Error);
    }

    [Fact]
    public void DomainManagement()
    {
        Assert.Equal(["/local/domain/7"], _f.Guest1.Send(XsMessageType.GetDomainPath, "7").Strings);
        Assert.Equal("EINVAL", _f.Guest1.Send(XsMessageType.GetDomainPath, "x").Error);
        Assert.Equal(["T"], _f.Guest1.Send(XsMessageType.IsDomainIntroduced, "1").Strings);
        Assert.Equal(["T"], _f.Guest1.Send(XsMessageType.IsDomainIntroduced, "0").Strings);
        Assert.Equal(["F"], _f.Guest1.Send(XsMessageType.IsDomainIntroduced, "3").Strings);

        Assert.Equal("EACCES", _f.Guest1.Send(XsMessageType.Introduce, "3", "1", "1").Error);
        Assert.Equal("EINVAL", _f.Dom0.Send(XsMessageType.Introduce, "0", "1", "1").Error);
        Assert.Equal("EINVAL", _f.Dom0.Send(XsMessageType.Introduce, "32752", "1", "1").Error);
        Assert.Equal("EINVAL", _f.Dom0.Send(XsMessageType.Introduce, "3", "x", "1").Error);
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.Introduce, "3", "-5", "9"));
        Assert.Equal(-5, _f.Daemon.Domain(3)!.Mfn);
        Assert.Equal(9u, _f.Daemon.Domain(3)!.EventChannel);
        Assert.Equal(["T"], _f.Guest1.Send(XsMessageType.IsDomainIntroduced, "3").Strings);

        Assert.Equal("EACCES", _f.Guest1.Send(XsMessageType.Release, "3").Error);
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.Release, "3"));
        Assert.Equal("ENOENT", _f.Dom0.Send(XsMessageType.Release, "3").Error);
        Assert.Equal(["F"], _f.Guest1.Send(XsMessageType.IsDomainIntroduced, "3").Strings);

        Assert.Equal("EACCES", _f.Guest1.Send(XsMessageType.Resume, "1").Error);
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.Resume, "1"));
        Assert.Equal("ENOENT", _f.Dom0.Send(XsMessageType.Resume, "3").Error);
    }

    [Fact]
    public void ReleasedDomainsConnectionCloses()
    {
        XenstoreConnection c = _f.Daemon.Domain(2)!.Connection;
        _f.Guest2.Ok(_f.Guest2.Watch("x", "t"));
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.Release, "2"));
        Assert.False(c.IsOpen);
        Assert.Equal(0, c.WatchCount);
        Assert.DoesNotContain(c, _f.Daemon.Connections);
    }

    [Fact]
    public void SetTargetGrantsTheTargetsAccess()
    {
        _f.Guest1.Ok(_f.Guest1.Write("t", "v"));
        Assert.Equal("EACCES", _f.Guest2.Read("/local/domain/1/t").Error);
        Assert.Equal("EACCES", _f.Guest2.Send(XsMessageType.SetTarget, "2", "1").Error);
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.SetTarget, "2", "1"));
        Assert.Equal("v", _f.Guest2.ReadText("/local/domain/1/t"));
        _f.Guest2.Ok(_f.Guest2.Write("/local/domain/1/t", "w"));
    }

    [Fact]
    public void ControlIsForDomain0()
    {
        Assert.Equal("EACCES", _f.Guest1.Send(XsMessageType.Control, "check").Error);
        _f.Dom0.Ok(_f.Dom0.Send(XsMessageType.Control, "check"));
        Assert.Equal("EINVAL", _f.Dom0.Send(XsMessageType.Control, "bogus").Error);
    }

    [Fact]
    public void ReplyEchoesIdsAndErrorsAreStrings()
    {
        byte[] message = XsWire.Encode(XsMessageType.Read, 0xabcdef, 0, XsWire.Strings("/nope"));
        XsReply reply = XsReply.Decode(_f.Daemon.Process(_f.Dom0.Connection, message).Reply!);
        Assert.Equal(XsMessageType.Error, reply.Type);
        Assert.Equal(0xabcdefu, reply.ReqId);
        Assert.Equal("ENOENT\0", reply.Text);
    }

    [Fact]
    public void MalformedFramesGetErrorsOversizeDisconnects()
    {
        byte[] unknown = XsWire.Encode((XsMessageType)99, 3, 0, []);
        XsReply reply = XsReply.Decode(_f.Daemon.Process(_f.Dom0.Connection, unknown).Reply!);
        Assert.Equal(("EINVAL", 3u), (reply.Error, reply.ReqId));

        byte[] header = new byte[16];
        new XsHeader((uint)XsMessageType.Read, 1, 0, 5000).Write(header);
        XenstoreOutcome outcome = _f.Daemon.Process(_f.Dom0.Connection, header);
        Assert.True(outcome.Disconnect);
        Assert.Null(outcome.Reply);
    }

    [Fact]
    public void EntriesQuota()
    {
        var f = new XsFixture(new XenstoreQuota(MaxEntriesPerDomain: 5));
        // /local/domain/1 is already owned by domain 1.
        f.Guest1.Ok(f.Guest1.Write("a", ""));
        f.Guest1.Ok(f.Guest1.Write("b/c", ""));
        Assert.Equal("EQUOTA", f.Guest1.Write("d/e", "").Error);
        Assert.Equal("ENOENT", f.Guest1.Read("d").Error);
        f.Guest1.Ok(f.Guest1.Write("d", ""));
        Assert.Equal("EQUOTA", f.Guest1.Mkdir("e").Error);
        // Overwriting existing nodes is still fine, removing frees entries.
        f.Guest1.Ok(f.Guest1.Write("a", "new"));
        f.Guest1.Ok(f.Guest1.Rm("b"));
        f.Guest1.Ok(f.Guest1.Mkdir("e"));
        Assert.Equal(4, f.Daemon.Tree.OwnedBy(1)); // the domain directory, a, d and e
        // Domain0 is exempt.
        for (int i = 0; i < 10; i++)
            f.Dom0.Ok(f.Dom0.Mkdir($"/local/domain/1/x{i}"));
    }

    [Fact]
    public void ValueSizeQuota()
    {
        var f = new XsFixture(new XenstoreQuota(MaxValueSize: 100));
        f.Guest1.Ok(f.Guest1.Write("v", new string('a', 100)));
        Assert.Equal("E2BIG", f.Guest1.Write("v", new string('a', 101)).Error);
        Assert.Equal("E2BIG", f.Guest1.Write("w", new string('a', 101)).Error);
        Assert.Equal(new string('a', 100), f.Guest1.ReadText("v"));
        f.Dom0.Ok(f.Dom0.Write("/local/domain/1/v", new string('b', 3000)));
    }

    [Fact]
    public void WatchAndTransactionQuotas()
    {
        var f = new XsFixture(new XenstoreQuota(MaxWatchesPerConnection: 2, MaxTransactionsPerConnection: 2));
        f.Guest1.Ok(f.Guest1.Watch("a", "1"));
        f.Guest1.Ok(f.Guest1.Watch("b", "1"));
        Assert.Equal("EQUOTA", f.Guest1.Watch("c", "1").Error);
        f.Guest1.Ok(f.Guest1.Unwatch("a", "1"));
        f.Guest1.Ok(f.Guest1.Watch("c", "1"));

        uint t1 = f.Guest1.Start();
        f.Guest1.Start();
        Assert.Equal("EQUOTA", f.Guest1.Send(XsMessageType.TransactionStart, XsWire.Strings("")).Error);
        f.Guest1.Ok(f.Guest1.End(t1, commit: false));
        f.Guest1.Start();

        for (int i = 0; i < 5; i++)
            f.Dom0.Start();
    }

    [Fact]
    public void ResetWatchesDropsWatchesAndTransactions()
    {
        _f.Guest1.Ok(_f.Guest1.Watch("a", "1"));
        uint tx = _f.Guest1.Start();
        _f.Guest1.Ok(_f.Guest1.Send(XsMessageType.ResetWatches, XsWire.Strings("")));
        Assert.Equal(0, _f.Guest1.Connection.WatchCount);
        Assert.Equal("ENOENT", _f.Guest1.End(tx).Error);
        _f.Guest1.Ok(_f.Guest1.Write("a", "x"));
        Assert.Empty(XsFixture.For(_f.Guest1, _f.Guest1.LastEvents));
    }
}
