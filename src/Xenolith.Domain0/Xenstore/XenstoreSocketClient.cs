using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Xenolith.Domain0.Xenstore;

/// <summary>
/// One host tool's connection on xenstored's socket. Receives run as a loop of asynchronous reads:
/// every complete frame a read brings is handled in one batch under the service's lock. Replies
/// and watch events are sent asynchronously in arrival order, so the service never waits on a
/// client; a client that leaves <see cref="MaxQueuedBytes"/> unread is dropped. An oversize frame
/// gets E2BIG and the connection is closed, since the stream cannot be resynchronised; garbage
/// that still frames gets an error reply; a client that goes away mid-message is cleaned up.
/// </summary>
internal sealed class XenstoreSocketClient : IXenstoreTransport
{
    internal const int MaxQueuedBytes = 16 * 1024 * 1024;

    /// <summary>Room for several frames per read; always more than one whole frame.</summary>
    private const int ReceiveBufferSize = 64 * 1024;

    private readonly XenstoredService _service;
    private readonly Socket _socket;
    private readonly Action<XenstoreSocketClient> _forget;
    private readonly ConcurrentQueue<byte[]> _output = new();
    private long _queuedBytes;
    private int _sending;
    private int _closed;
    private Task _drain = Task.CompletedTask;

    private XenstoreSocketClient(XenstoredService service, Socket socket, Action<XenstoreSocketClient> forget, XenstoreConnection connection)
    {
        _service = service;
        _socket = socket;
        _forget = forget;
        Connection = connection;
    }

    public XenstoreConnection Connection { get; }

    public static XenstoreSocketClient? Start(XenstoredService service, Socket socket, Action<XenstoreSocketClient> forget)
    {
        XenstoreSocketClient? client = null;
        if (service.Register(connection => client = new XenstoreSocketClient(service, socket, forget, connection)) is null)
        {
            socket.Dispose();
            return null;
        }
        _ = client!.ReceiveAsync();
        return client;
    }

    private async Task ReceiveAsync()
    {
        byte[] buffer = new byte[ReceiveBufferSize];
        int filled = 0;
        try
        {
            while (true)
            {
                int received = await _socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
                if (received == 0)
                    return;
                filled += received;
                int consumed = 0;
                bool closeAfterReply = false;
                if (!_service.RunBatch(this, () => consumed = HandleFrames(buffer, filled, out closeAfterReply)))
                    return;
                if (closeAfterReply)
                {
                    // Let the last reply (E2BIG) reach the client before hanging up.
                    await Volatile.Read(ref _drain).WaitAsync(TimeSpan.FromSeconds(5));
                    return;
                }
                Buffer.BlockCopy(buffer, consumed, buffer, 0, filled - consumed);
                filled -= consumed;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or TimeoutException)
        {
        }
        finally
        {
            Close();
        }
    }

    /// <summary>Handles every whole frame at the start of the buffer; returns the bytes they took.</summary>
    private int HandleFrames(byte[] buffer, int length, out bool closeAfterReply)
    {
        closeAfterReply = false;
        int at = 0;
        while (true)
        {
            ReadOnlySpan<byte> rest = buffer.AsSpan(at, length - at);
            switch (XsWire.CheckFrame(rest, out int frameLength))
            {
                case XsFrameStatus.Incomplete:
                    return at;
                case XsFrameStatus.Oversize:
                    XsHeader header = XsHeader.Read(rest);
                    _service.Logger.LogWarning("xenstored: {Connection} sent a {Length}-byte payload; closing it", Connection, header.Length);
                    _service.Reply(this, XsWire.EncodeError(header.ReqId, header.TxId, XsError.E2BIG));
                    closeAfterReply = true;
                    return at;
                default:
                    if (!_service.Dispatch(this, rest[..frameLength]))
                    {
                        closeAfterReply = true;
                        return at;
                    }
                    at += frameLength;
                    break;
            }
        }
    }

    public void Enqueue(byte[] message, bool watchEvent)
    {
        if (Volatile.Read(ref _closed) != 0)
            return;
        if (Interlocked.Add(ref _queuedBytes, message.Length) > MaxQueuedBytes)
        {
            _service.Logger.LogWarning("xenstored: {Connection} does not read its replies; closing it", Connection);
            Close();
            return;
        }
        _output.Enqueue(message);
    }

    /// <summary>Starts sending if no send is under way; the first sends usually complete at once, on this thread.</summary>
    public void Flush()
    {
        if (Volatile.Read(ref _closed) == 0 && Interlocked.CompareExchange(ref _sending, 1, 0) == 0)
            Volatile.Write(ref _drain, DrainAsync());
    }

    private async Task DrainAsync()
    {
        var batch = new List<ArraySegment<byte>>();
        try
        {
            while (true)
            {
                while (_output.TryDequeue(out byte[]? message))
                {
                    batch.Add(message);
                    while (batch.Count < 64 && _output.TryDequeue(out message))
                        batch.Add(message);
                    await _socket.SendAsync(batch, SocketFlags.None);
                    foreach (ArraySegment<byte> sent in batch)
                        Interlocked.Add(ref _queuedBytes, -sent.Count);
                    batch.Clear();
                }
                Volatile.Write(ref _sending, 0);
                // A message queued after the last dequeue but before the flag cleared is ours to send.
                if (_output.IsEmpty || Interlocked.CompareExchange(ref _sending, 1, 0) != 0)
                    return;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Close();
        }
    }

    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
            return;
        _service.Unregister(Connection);
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        _socket.Dispose();
        _output.Clear();
        _forget(this);
    }

    public override string ToString() => $"xenstore socket client ({Connection})";
}
