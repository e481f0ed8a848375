using System.Net.Sockets;
using Xenolith.Domain0.Xenstore;

namespace Xenolith.Bench;

/// <summary>
/// The xenstore benchmark's floor: a Unix-socket server built the way xenstored's socket is
/// (asynchronous receives, each complete xs_wire frame answered with an asynchronous send) that
/// answers every frame with a fixed reply of the size the real read gets, without the daemon.
/// </summary>
internal sealed class SocketEchoServer : IDisposable
{
    private readonly Socket _listener;
    private readonly byte[] _reply;
    private readonly CancellationTokenSource _stop = new();

    public SocketEchoServer(string path, byte[] reply)
    {
        _reply = reply;
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(4);
        _ = AcceptAsync();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
                _ = ServeAsync(await _listener.AcceptAsync(_stop.Token));
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            var buffer = new byte[64 * 1024];
            int filled = 0;
            try
            {
                while (true)
                {
                    int received = await client.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
                    if (received == 0)
                        return;
                    filled += received;
                    int at = 0;
                    while (XsWire.CheckFrame(buffer.AsSpan(at, filled - at), out int length) == XsFrameStatus.Complete)
                    {
                        await client.SendAsync(_reply, SocketFlags.None);
                        at += length;
                    }
                    Buffer.BlockCopy(buffer, at, buffer, 0, filled - at);
                    filled -= at;
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
    }
}
