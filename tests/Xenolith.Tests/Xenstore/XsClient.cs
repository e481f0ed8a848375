using System.Text;
using Xenolith.Domain0.Xenstore;
using Xunit;

namespace Xenolith.Tests.Xenstore;

/// <summary>A decoded reply: its type, the header echo and the payload.</summary>
internal sealed record XsReply(XsMessageType Type, uint ReqId, uint TxId, byte[] Payload)
{
    public string Text => Encoding.Latin1.GetString(Payload);
    public IReadOnlyList<string> Strings => XsWire.SplitStrings(Payload);
    public bool IsError => Type == XsMessageType.Error;
    public string? Error => IsError ? Strings[0] : null;

    public static XsReply Decode(byte[] message)
    {
        Assert.True(message.Length >= XsWire.HeaderSize);
        XsHeader h = XsHeader.Read(message);
        Assert.Equal((int)h.Length, message.Length - XsWire.HeaderSize);
        return new XsReply(h.MessageType, h.ReqId, h.TxId, message[XsWire.HeaderSize..]);
    }
}

/// <summary>A test client over one connection: sends requests through the wire encoding.</summary>
internal sealed class XsClient(XenstoreDaemon daemon, XenstoreConnection connection)
{
    private uint _reqId = 100;

    public XenstoreConnection Connection { get; } = connection;

    /// <summary>Events produced by this client's requests, for any connection.</summary>
    public List<XenstoreEvent> LastEvents { get; private set; } = [];

    public XsReply Send(XsMessageType type, byte[] payload, uint txId = 0)
    {
        uint reqId = _reqId++;
        XenstoreOutcome outcome = daemon.Process(Connection, XsWire.Encode(type, reqId, txId, payload));
        Assert.False(outcome.Disconnect);
        Assert.NotNull(outcome.Reply);
        LastEvents = [.. outcome.Events];
        XsReply reply = XsReply.Decode(outcome.Reply);
        Assert.Equal(reqId, reply.ReqId);
        Assert.Equal(txId, reply.TxId);
        Assert.True(reply.IsError || reply.Type == type);
        return reply;
    }

    public XsReply Send(XsMessageType type, params string[] args) => Send(type, XsWire.Strings(args));

    public XsReply Read(string path, uint tx = 0) => Send(XsMessageType.Read, XsWire.Strings(path), tx);

    public XsReply Write(string path, string value, uint tx = 0) => Write(path, Encoding.Latin1.GetBytes(value), tx);

    public XsReply Write(string path, byte[] value, uint tx = 0) =>
        Send(XsMessageType.Write, [.. XsWire.Strings(path), .. value], tx);

    public XsReply Mkdir(string path, uint tx = 0) => Send(XsMessageType.Mkdir, XsWire.Strings(path), tx);
    public XsReply Rm(string path, uint tx = 0) => Send(XsMessageType.Rm, XsWire.Strings(path), tx);
    public XsReply Directory(string path, uint tx = 0) => Send(XsMessageType.Directory, XsWire.Strings(path), tx);
    public XsReply GetPerms(string path, uint tx = 0) => Send(XsMessageType.GetPerms, XsWire.Strings(path), tx);

    public XsReply SetPerms(string path, params string[] perms) =>
        Send(XsMessageType.SetPerms, XsWire.Strings([path, .. perms]));

    public XsReply SetPermsTx(uint tx, string path, params string[] perms) =>
        Send(XsMessageType.SetPerms, XsWire.Strings([path, .. perms]), tx);

    public XsReply Watch(string path, string token) => Send(XsMessageType.Watch, path, token);
    public XsReply Unwatch(string path, string token) => Send(XsMessageType.Unwatch, path, token);

    public uint Start()
    {
        XsReply reply = Send(XsMessageType.TransactionStart, XsWire.Strings(""));
        Assert.False(reply.IsError, reply.Error);
        return uint.Parse(reply.Strings[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    public XsReply End(uint tx, bool commit = true) =>
        Send(XsMessageType.TransactionEnd, XsWire.Strings(commit ? "T" : "F"), tx);

    public void Ok(XsReply reply)
    {
        Assert.False(reply.IsError, reply.Error);
    }

    public string ReadText(string path)
    {
        XsReply reply = Read(path);
        Assert.False(reply.IsError, reply.Error);
        return reply.Text;
    }
}

/// <summary>A daemon with Domain0 and introduced guests 1 and 2, each owning /local/domain/&lt;id&gt;.</summary>
internal sealed class XsFixture
{
    public XsFixture(XenstoreQuota? quota = null)
    {
        Daemon = new XenstoreDaemon(quota);
        Dom0 = new XsClient(Daemon, Daemon.Connect(0));
        Dom0.Ok(Dom0.Send(XsMessageType.Introduce, "1", "1234", "5"));
        Dom0.Ok(Dom0.Send(XsMessageType.Introduce, "2", "2345", "6"));
        foreach (string id in new[] { "1", "2" })
        {
            Dom0.Ok(Dom0.Mkdir("/local/domain/" + id));
            Dom0.Ok(Dom0.SetPerms("/local/domain/" + id, "n" + id, "r0"));
        }
        Guest1 = new XsClient(Daemon, Daemon.Domain(1)!.Connection);
        Guest2 = new XsClient(Daemon, Daemon.Domain(2)!.Connection);
    }

    public XenstoreDaemon Daemon { get; }
    public XsClient Dom0 { get; }
    public XsClient Guest1 { get; }
    public XsClient Guest2 { get; }

    /// <summary>The (path, token) pairs of the events in <paramref name="events"/> for <paramref name="client"/>.</summary>
    public static List<(string Path, string Token)> For(XsClient client, IEnumerable<XenstoreEvent> events) =>
        [.. events.Where(e => e.Connection == client.Connection).Select(e => (e.Path, e.Token))];
}
