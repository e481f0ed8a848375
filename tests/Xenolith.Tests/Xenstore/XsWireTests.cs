using Xenolith.Domain0.Xenstore;
using Xunit;

namespace Xenolith.Tests.Xenstore;

public sealed class XsWireTests
{
    [Fact]
    public void TypeNumbersMatchXsWireH()
    {
        Assert.Equal(0u, (uint)XsMessageType.Control);
        Assert.Equal(2u, (uint)XsMessageType.Read);
        Assert.Equal(11u, (uint)XsMessageType.Write);
        Assert.Equal(15u, (uint)XsMessageType.WatchEvent);
        Assert.Equal(16u, (uint)XsMessageType.Error);
        Assert.Equal(21u, (uint)XsMessageType.ResetWatches);
        Assert.Equal(22u, (uint)XsMessageType.DirectoryPart);
        Assert.Equal(0xffffu, (uint)XsMessageType.Invalid);
        Assert.Equal(4096, XsWire.PayloadMax);
        Assert.Equal(17, XsError.All.Count);
        Assert.Equal("E2BIG", XsError.All[14]);
        Assert.Equal("EPERM", XsError.All[15]);
    }

    [Fact]
    public void HeaderIsFourLittleEndianWords()
    {
        byte[] message = XsWire.Encode(XsMessageType.Read, 0x01020304, 7, XsWire.Strings("/a"));
        Assert.Equal(new byte[] { 2, 0, 0, 0, 4, 3, 2, 1, 7, 0, 0, 0, 3, 0, 0, 0, (byte)'/', (byte)'a', 0 }, message);
        XsParseResult parsed = XsWire.Parse(message);
        Assert.True(parsed.IsOk);
        Assert.Equal(XsMessageType.Read, parsed.Request!.Type);
        Assert.Equal(0x01020304u, parsed.Request.ReqId);
        Assert.Equal(7u, parsed.Request.TxId);
        Assert.Equal(["/a"], parsed.Request.Args);
    }

    [Fact]
    public void WriteValueIsBinaryAfterThePath()
    {
        byte[] payload = [.. XsWire.Strings("/a"), 1, 0, 2];
        XsParseResult parsed = XsWire.Parse(XsWire.Encode(XsMessageType.Write, 1, 0, payload));
        Assert.Equal(["/a"], parsed.Request!.Args);
        Assert.Equal(new byte[] { 1, 0, 2 }, parsed.Request.Value);
    }

    [Fact]
    public void ShortFramesAreTruncated()
    {
        Assert.Equal(XsParseError.Truncated, XsWire.Parse(new byte[15]).Error);
        byte[] message = XsWire.Encode(XsMessageType.Read, 1, 0, XsWire.Strings("/abc"));
        XsParseResult parsed = XsWire.Parse(message.AsSpan(0, message.Length - 1));
        Assert.Equal(XsParseError.Truncated, parsed.Error);
        Assert.False(parsed.IsFatal);
        Assert.Equal(XsParseError.TrailingBytes, XsWire.Parse([.. message, 0]).Error);
    }

    [Fact]
    public void OversizePayloadIsFatal()
    {
        byte[] header = new byte[16];
        new XsHeader((uint)XsMessageType.Read, 1, 0, XsWire.PayloadMax + 1).Write(header);
        XsParseResult parsed = XsWire.Parse(header);
        Assert.Equal(XsParseError.Oversize, parsed.Error);
        Assert.True(parsed.IsFatal);
        Assert.Equal(XsFrameStatus.Oversize, XsWire.CheckFrame(header, out _));

        byte[] max = XsWire.Encode(XsMessageType.Write, 1, 0, [.. XsWire.Strings("/a"), .. new byte[XsWire.PayloadMax - 3]]);
        Assert.True(XsWire.Parse(max).IsOk);
    }

    [Fact]
    public void FramesAreFoundInAStream()
    {
        byte[] message = XsWire.Encode(XsMessageType.Read, 1, 0, XsWire.Strings("/abc"));
        Assert.Equal(XsFrameStatus.Incomplete, XsWire.CheckFrame(message.AsSpan(0, 10), out _));
        Assert.Equal(XsFrameStatus.Incomplete, XsWire.CheckFrame(message.AsSpan(0, 18), out _));
        Assert.Equal(XsFrameStatus.Complete, XsWire.CheckFrame([.. message, .. message], out int length));
        Assert.Equal(message.Length, length);
    }

    [Theory]
    [InlineData(20u)]
    [InlineData(23u)]
    [InlineData(0xffffu)]
    [InlineData(0xdeadbeefu)]
    public void UnknownTypesAreRefused(uint type)
    {
        XsParseResult parsed = XsWire.Parse(XsWire.Encode((XsMessageType)type, 9, 0, XsWire.Strings("/a")));
        Assert.Equal(XsParseError.UnknownType, parsed.Error);
        Assert.Equal("EINVAL", parsed.ErrorString);
        Assert.Equal(9u, parsed.Header!.Value.ReqId);
    }

    [Theory]
    [InlineData(XsMessageType.Read, "")]
    [InlineData(XsMessageType.Read, "/a")]
    [InlineData(XsMessageType.Read, "/a\0/b\0")]
    [InlineData(XsMessageType.Write, "/a")]
    [InlineData(XsMessageType.Watch, "/a\0")]
    [InlineData(XsMessageType.Watch, "/a\0tok")]
    [InlineData(XsMessageType.SetPerms, "/a\0")]
    [InlineData(XsMessageType.Introduce, "1\02\0")]
    [InlineData(XsMessageType.TransactionEnd, "")]
    [InlineData(XsMessageType.WatchEvent, "/a\0t\0")]
    [InlineData(XsMessageType.Error, "EINVAL\0")]
    public void MalformedPayloadsAreRefused(XsMessageType type, string payload)
    {
        XsParseResult parsed = XsWire.Parse(XsWire.Encode(type, 1, 0, System.Text.Encoding.Latin1.GetBytes(payload)));
        Assert.False(parsed.IsOk);
        Assert.False(parsed.IsFatal);
        Assert.Equal("EINVAL", parsed.ErrorString);
    }

    [Fact]
    public void WatchAcceptsTheReservedArgument()
    {
        Assert.True(XsWire.Parse(XsWire.Encode(XsMessageType.Watch, 1, 0, XsWire.Strings("/a", "t"))).IsOk);
        Assert.True(XsWire.Parse(XsWire.Encode(XsMessageType.Watch, 1, 0, XsWire.Strings("/a", "t", ""))).IsOk);
        Assert.False(XsWire.Parse(XsWire.Encode(XsMessageType.Watch, 1, 0, XsWire.Strings("/a", "t", "", "x"))).IsOk);
    }

    [Fact]
    public void ErrorAndEventEncodings()
    {
        byte[] error = XsWire.EncodeError(5, 6, XsError.ENOENT);
        XsHeader h = XsHeader.Read(error);
        Assert.Equal(XsMessageType.Error, h.MessageType);
        Assert.Equal((5u, 6u), (h.ReqId, h.TxId));
        Assert.Equal(["ENOENT"], XsWire.SplitStrings(error.AsSpan(16)));

        byte[] ev = XsWire.EncodeWatchEvent("/a/b", "tok");
        h = XsHeader.Read(ev);
        Assert.Equal((XsMessageType.WatchEvent, 0u, 0u), (h.MessageType, h.ReqId, h.TxId));
        Assert.Equal(["/a/b", "tok"], XsWire.SplitStrings(ev.AsSpan(16)));
    }

    [Theory]
    [InlineData("/", true)]
    [InlineData("/a/b-c_d@e/F9", true)]
    [InlineData("", false)]
    [InlineData("/a/", false)]
    [InlineData("/a//b", false)]
    [InlineData("/a b", false)]
    [InlineData("/a.b", false)]
    public void PathSyntax(string path, bool valid)
    {
        Assert.Equal(valid, XenstorePath.IsValidAbsolute(path));
    }

    [Fact]
    public void PathLengthLimits()
    {
        Assert.True(XenstorePath.IsValidAbsolute("/" + new string('a', 3071)));
        Assert.False(XenstorePath.IsValidAbsolute("/" + new string('a', 3072)));
        Assert.True(XenstorePath.TryCanonicalize(new string('a', 2048), 3, out string abs));
        Assert.Equal("/local/domain/3/" + new string('a', 2048), abs);
        Assert.False(XenstorePath.TryCanonicalize(new string('a', 2049), 3, out _));
    }

    [Theory]
    [InlineData("r5", 5, XsAccess.Read)]
    [InlineData("w0", 0, XsAccess.Write)]
    [InlineData("b65535", 65535, XsAccess.Both)]
    [InlineData("n7", 7, XsAccess.None)]
    public void PermissionStrings(string text, int domid, XsAccess access)
    {
        Assert.True(XsPermission.TryParse(text, out XsPermission p));
        Assert.Equal(new XsPermission((ushort)domid, access), p);
        Assert.Equal(text, p.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("r")]
    [InlineData("x1")]
    [InlineData("r-1")]
    [InlineData("r65536")]
    [InlineData("r 1")]
    [InlineData("R1")]
    public void BadPermissionStrings(string text)
    {
        Assert.False(XsPermission.TryParse(text, out _));
    }

    [Fact]
    public void AclModel()
    {
        var acl = new XsPermissions(new XsPermission(3, XsAccess.Read), new XsPermission(4, XsAccess.Write), new XsPermission(5, XsAccess.None));
        Assert.Equal(XsAccess.Both, acl.AccessFor(0));
        Assert.Equal(XsAccess.Both, acl.AccessFor(3));
        Assert.Equal(XsAccess.Write, acl.AccessFor(4));
        Assert.Equal(XsAccess.None, acl.AccessFor(5));
        Assert.Equal(XsAccess.Read, acl.AccessFor(6));
        Assert.Equal(XsAccess.Both, acl.AccessFor(6, target: 3));
        Assert.Equal(XsAccess.Write, acl.AccessFor(6, target: 4));
    }
}
