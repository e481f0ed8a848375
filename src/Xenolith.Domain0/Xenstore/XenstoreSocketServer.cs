using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Xenolith.Domain0.Xenstore;

/// <summary>
/// xenstored's Unix-domain socket: the privileged Domain0 connection for host tools, one daemon
/// connection per accepted client, the same xs_wire framing as the rings. Anyone who can connect
/// is Domain0, so the socket is made readable and writable by its owner only.
/// </summary>
internal sealed class XenstoreSocketServer : IDisposable
{
    private readonly XenstoredService _service;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<XenstoreSocketClient> _clients = [];
    private readonly Lock _clientsLock = new();
    private readonly Task _accepting;

    private XenstoreSocketServer(XenstoredService service, string path, Socket listener)
    {
        _service = service;
        Path = path;
        _listener = listener;
        _accepting = AcceptAsync();
    }

    public string Path { get; }

    public static XenstoreSocketServer Start(XenstoredService service, string path)
    {
        string? directory = System.IO.Path.GetDirectoryName(path);
        // Xenolith runs on Linux only (KVM); the checks keep the platform analyzer informed.
        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory) && !OperatingSystem.IsWindows())
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        RemoveStaleSocket(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(16);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        return new XenstoreSocketServer(service, path, listener);
    }

    /// <summary>A socket file nobody answers on is left from a process that died; a live one is someone else's.</summary>
    private static void RemoveStaleSocket(string path)
    {
        if (!File.Exists(path))
            return;
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new IOException($"{path}: another xenstored is serving this socket");
            }
            catch (SocketException)
            {
            }
        }
        File.Delete(path);
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await _listener.AcceptAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                _service.Logger.LogWarning(e, "xenstored: accept on {Path} failed", Path);
                continue;
            }
            var client = XenstoreSocketClient.Start(_service, accepted, Forget);
            if (client is null)
                continue;
            lock (_clientsLock)
            {
                if (_stopping.IsCancellationRequested)
                {
                    client.Close();
                    continue;
                }
                _clients.Add(client);
            }
        }
    }

    private void Forget(XenstoreSocketClient client)
    {
        lock (_clientsLock)
            _clients.Remove(client);
    }

    public void Dispose()
    {
        XenstoreSocketClient[] clients;
        lock (_clientsLock)
        {
            if (_stopping.IsCancellationRequested)
                return;
            _stopping.Cancel();
            clients = [.. _clients];
            _clients.Clear();
        }
        _listener.Dispose();
        foreach (XenstoreSocketClient client in clients)
            client.Close();
        try
        {
            _accepting.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
        }
    }
}
