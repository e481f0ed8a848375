using System.Net.Sockets;
using Xenolith.Domain0.Xenstore;
using Xunit;

namespace Xenolith.Tests.Xenstore;

/// <summary>A host tool on xenstored's socket: blocking sends and receives of whole xs_wire messages.</summary>
internal sealed class XsSocketClient : IDisposable
{
    private readonly Socket _socket;
    private uint _nextRequestId = 1;

    private XsSocketClient(Socket socket) => _socket = socket;

    /// <summary>Watch events that arrived while waiting for replies.</summary>
    public List<XsReply> Events { get; } = [];

    public static XsSocketClient Connect(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified) { ReceiveTimeout = 10_000 };
        socket.Connect(new UnixDomainSocketEndPoint(path));
        return new XsSocketClient(socket);
    }

    public void SendRaw(ReadOnlySpan<byte> bytes) => _socket.Send(bytes);

    public XsReply Call(XsMessageType type, byte[] payload, uint tx = 0)
    {
        uint reqId = _nextRequestId++;
        SendRaw(XsWire.Encode(type, reqId, tx, payload));
        while (true)
        {
            XsReply message = Receive() ?? throw new IOException("the server closed the connection");
            if (message.Type == XsMessageType.WatchEvent)
            {
                Events.Add(message);
                continue;
            }
            Assert.Equal(reqId, message.ReqId);
            Assert.Equal(tx, message.TxId);
            return message;
        }
    }

    public XsReply Call(XsMessageType type, params string[] args) => Call(type, XsWire.Strings(args));

    public XsReply Write(string path, string value, uint tx = 0) =>
        Call(XsMessageType.Write, [.. XsWire.Strings(path), .. System.Text.Encoding.Latin1.GetBytes(value)], tx);

    /// <summary>The next whole message, or null when the server closed the connection.</summary>
    public XsReply? Receive()
    {
        var header = new byte[XsWire.HeaderSize];
        if (!ReceiveExactly(header))
            return null;
        var message = new byte[XsWire.HeaderSize + XsHeader.Read(header).Length];
        header.CopyTo(message, 0);
        return ReceiveExactly(message.AsSpan(XsWire.HeaderSize)) ? XsReply.Decode(message) : null;
    }

    /// <summary>Waits for a watch event, taking one that arrived earlier first.</summary>
    public XsReply NextEvent()
    {
        if (Events.Count > 0)
        {
            XsReply first = Events[0];
            Events.RemoveAt(0);
            return first;
        }
        XsReply message = Receive() ?? throw new IOException("the server closed the connection");
        Assert.Equal(XsMessageType.WatchEvent, message.Type);
        return message;
    }

    private bool ReceiveExactly(Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int received = _socket.Receive(buffer);
            if (received == 0)
                return false;
            buffer = buffer[received..];
        }
        return true;
    }

    public void Dispose() => _socket.Dispose();
}
