using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Xenolith.Abi;
using Xenolith.Domain0.Rings;
using Xenolith.Hypervisor;

namespace Xenolith.Domain0.Xenstore;

/// <summary>
/// xenstored as a service: the <see cref="XenstoreDaemon"/> core behind its transports, a ring for
/// every introduced domain, a Unix-domain socket for host tools (optional) and in-process Domain0
/// clients for the toolstack.
/// <para>
/// The daemon is single-threaded, so one lock serialises everything that touches it: requests
/// arrive on Domain0's event thread (rings), on socket receive completions and on toolstack
/// threads, and each runs its whole batch under the lock: every complete request, its reply, the
/// watch events it caused for any connection, then one flush per transport touched (a ring is
/// signalled once per batch, and only if something moved). Flushing never blocks: a ring keeps
/// what does not fit until the guest consumes, a socket sends asynchronously.
/// </para>
/// <para>
/// A domain's ring is attached when it is introduced, whether by the toolstack or by XS_INTRODUCE
/// from a socket client, and detached when it is released: by XS_RELEASE, by
/// <see cref="ReleaseDomain"/>, or when the domain ends. Release fires @releaseDomain.
/// </para>
/// </summary>
public sealed class XenstoredService : IDisposable
{
    private readonly Lock _lock = new();
    private readonly IGuestRingConnector _rings;
    private readonly Dictionary<XenstoreConnection, IXenstoreTransport> _transports = [];
    private readonly Dictionary<ushort, XenstoreRingTransport> _ringTransports = [];
    private readonly HashSet<IXenstoreTransport> _touched = [];
    private XenstoreSocketServer? _socket;
    private bool _disposed;

    public XenstoredService(IGuestRingConnector rings, XenstoreQuota? quota = null, ILogger? logger = null)
    {
        _rings = rings;
        Logger = logger ?? NullLogger.Instance;
        Daemon = new XenstoreDaemon(quota);
    }

    internal ILogger Logger { get; }

    /// <summary>The core. Only under the service's lock (tests read it when nothing else runs).</summary>
    internal XenstoreDaemon Daemon { get; }

    /// <summary>Where host tools connect, once <see cref="Listen"/> has been called.</summary>
    public string? SocketPath => _socket?.Path;

    /// <summary>
    /// Serves the privileged Domain0 protocol on a Unix-domain socket at <paramref name="path"/>,
    /// one connection per client. A stale socket file is replaced; a live one is an IOException.
    /// </summary>
    public void Listen(string path)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_socket is not null)
                throw new InvalidOperationException($"already listening on {_socket.Path}");
            _socket = XenstoreSocketServer.Start(this, path);
        }
    }

    /// <summary>A new in-process Domain0 connection (what libxenstore gives the toolstack).</summary>
    public XenstoreLocalClient ConnectLocal() => new(this);

    /// <summary>Whether a domain's ring is attached (it is introduced and not yet released).</summary>
    public bool IsRingAttached(ushort domid)
    {
        lock (_lock)
            return _ringTransports.ContainsKey(domid);
    }

    /// <summary>
    /// What xenstored does when a domain dies: @releaseDomain fires, its connection closes with its
    /// watches and transactions, and its ring is let go. Nothing happens for a domain that is not
    /// introduced.
    /// </summary>
    public void ReleaseDomain(ushort domid)
    {
        lock (_lock)
        {
            if (_disposed)
                return;
            Route(Daemon.ReleaseDomain(domid));
            DetachRing(domid);
            FlushTouched();
        }
    }

    // ---------- For the transports (all under the lock unless said otherwise) ----------

    /// <summary>Opens a daemon connection for a socket or in-process client; null once disposed.</summary>
    internal XenstoreConnection? Register(Func<XenstoreConnection, IXenstoreTransport> create)
    {
        lock (_lock)
        {
            if (_disposed)
                return null;
            XenstoreConnection connection = Daemon.Connect(DomainIds.Domain0);
            _transports.Add(connection, create(connection));
            return connection;
        }
    }

    /// <summary>Closes a socket or in-process client's connection: its watches and transactions go.</summary>
    internal void Unregister(XenstoreConnection connection)
    {
        lock (_lock)
        {
            if (_transports.Remove(connection, out IXenstoreTransport? transport))
            {
                Daemon.Disconnect(connection);
                _touched.Remove(transport);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="batch"/> with the lock held, then flushes every transport it touched.
    /// False if the transport is no longer registered (its client went away meanwhile).
    /// </summary>
    internal bool RunBatch(IXenstoreTransport transport, Action batch)
    {
        lock (_lock)
        {
            if (_disposed || !_transports.ContainsKey(transport.Connection))
                return false;
            try
            {
                batch();
            }
            finally
            {
                FlushTouched();
            }
            return true;
        }
    }

    /// <summary>Domain0's event thread: the guest signalled its ring.</summary>
    internal void OnRingSignal(XenstoreRingTransport ring)
    {
        lock (_lock)
        {
            // Signals can arrive before the ring is registered (the bind itself raises one) or
            // after it was detached; only a registered ring is serviced.
            if (_disposed || !_ringTransports.TryGetValue(ring.DomainId, out XenstoreRingTransport? current) || current != ring)
                return;
            try
            {
                ring.Service();
            }
            finally
            {
                FlushTouched();
            }
        }
    }

    /// <summary>
    /// Handles one whole frame from <paramref name="from"/>: queues the reply and the watch events,
    /// attaches or detaches rings for INTRODUCE and RELEASE. False when the connection must be
    /// dropped (the daemon could not even read a header).
    /// </summary>
    internal bool Dispatch(IXenstoreTransport from, ReadOnlySpan<byte> frame)
    {
        XsParseResult parsed = XsWire.Parse(frame);
        XenstoreRingTransport? attaching = null;
        if (parsed.Request is { Type: XsMessageType.Introduce } introduce && from.Connection.IsPrivileged)
        {
            string? error = TryAttachRing(introduce, out attaching);
            if (error is not null)
            {
                Reply(from, XsWire.EncodeError(introduce.ReqId, introduce.TxId, error));
                return true;
            }
        }

        XenstoreOutcome outcome = parsed.Request is { } request ? Daemon.Handle(from.Connection, request) : Daemon.Process(from.Connection, frame);
        if (outcome.Disconnect || outcome.Reply is null)
        {
            attaching?.Close();
            return false;
        }
        Reply(from, outcome.Reply);
        Route(outcome.Events);

        if (attaching is not null)
            CompleteAttach(attaching);
        if (parsed.Request is { Type: XsMessageType.Release } release
            && XsDomId.TryParse(release.Args[0], out ushort released) && !Daemon.IsIntroduced(released))
            DetachRing(released);
        return true;
    }

    /// <summary>Queues <paramref name="message"/> for <paramref name="to"/> and marks it for this batch's flush.</summary>
    internal void Reply(IXenstoreTransport to, byte[] message)
    {
        to.Enqueue(message, watchEvent: false);
        _touched.Add(to);
    }

    /// <summary>Clears a connection's watches and transactions (a ring reconnecting).</summary>
    internal void ResetConnection(XenstoreConnection connection) =>
        Daemon.Handle(connection, new XsRequest(XsMessageType.ResetWatches, 0, 0, [], []));

    /// <summary>Marks a transport for this batch's flush.</summary>
    internal void Touch(IXenstoreTransport transport) => _touched.Add(transport);

    private void Route(IReadOnlyList<XenstoreEvent> events)
    {
        foreach (XenstoreEvent e in events)
        {
            if (!_transports.TryGetValue(e.Connection, out IXenstoreTransport? to))
                continue;
            to.Enqueue(e.Encode(), watchEvent: true);
            _touched.Add(to);
        }
    }

    private void FlushTouched()
    {
        if (_touched.Count == 0)
            return;
        // A copy: a flush that fails closes its client, which leaves the set meanwhile.
        IXenstoreTransport[] touched = [.. _touched];
        _touched.Clear();
        foreach (IXenstoreTransport transport in touched)
        {
            try
            {
                transport.Flush();
            }
            catch (Exception e) when (e is ObjectDisposedException or InvalidOperationException)
            {
                // The page or socket went away under a dying client: its own teardown follows.
                Logger.LogDebug(e, "xenstored: flushing {Connection} failed", transport.Connection);
            }
        }
    }

    /// <summary>
    /// Maps the ring and binds the port that INTRODUCE names, before the daemon records the domain,
    /// so that a bad frame or port is refused instead of introducing a domain nobody can reach.
    /// Null with nothing to attach when the daemon should answer by itself: a domain id it refuses,
    /// or a domain already introduced (a repeated INTRODUCE is a no-op).
    /// </summary>
    private string? TryAttachRing(XsRequest introduce, out XenstoreRingTransport? ring)
    {
        ring = null;
        IReadOnlyList<string> a = introduce.Args;
        if (!XsDomId.TryParse(a[0], out ushort domid) || domid == 0 || domid >= XsDomId.FirstReserved
            || Daemon.IsIntroduced(domid) || _ringTransports.ContainsKey(domid))
            return null;
        if (!ulong.TryParse(a[1], NumberStyles.None, CultureInfo.InvariantCulture, out ulong mfn)
            || !uint.TryParse(a[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint port))
            return XsError.EINVAL;
        var transport = new XenstoreRingTransport(this, domid);
        IGuestRing? guestRing = _rings.TryConnect(domid, mfn, port, transport.OnSignal, out int error);
        if (guestRing is null)
        {
            Logger.LogWarning("xenstored: cannot attach domain {Domain}'s ring (mfn {Mfn:x}, port {Port}): error {Error}", domid, mfn, port, error);
            return error == -XenErrno.ESRCH ? XsError.ENOENT : XsError.EINVAL;
        }
        transport.Attach(guestRing);
        ring = transport;
        return null;
    }

    private void CompleteAttach(XenstoreRingTransport ring)
    {
        if (Daemon.Domain(ring.DomainId) is not { } domain || _ringTransports.ContainsKey(ring.DomainId))
        {
            ring.Close();
            return;
        }
        ring.Connection = domain.Connection;
        _ringTransports.Add(ring.DomainId, ring);
        _transports.Add(domain.Connection, ring);
        ushort domid = ring.DomainId;
        // As xenstored hears of a domain's death (VIRQ_DOM_EXC), whoever introduced it.
        // Never inline: a domain already dead must not be released in the middle of this batch.
        _rings.DomainEnded(domid).ContinueWith(_ => ReleaseDomain(domid), CancellationToken.None,
            TaskContinuationOptions.RunContinuationsAsynchronously, TaskScheduler.Default);
        // Requests the guest wrote before it was introduced are waiting.
        ring.Service();
    }

    private void DetachRing(ushort domid)
    {
        if (!_ringTransports.Remove(domid, out XenstoreRingTransport? ring))
            return;
        _transports.Remove(ring.Connection);
        _touched.Remove(ring);
        ring.Close();
    }

    /// <summary>Stops the socket, closes every client and lets go of every ring.</summary>
    public void Dispose()
    {
        XenstoreSocketServer? socket;
        lock (_lock)
        {
            if (_disposed)
                return;
            _disposed = true;
            socket = _socket;
            foreach (XenstoreRingTransport ring in _ringTransports.Values)
                ring.Close();
            _ringTransports.Clear();
            _transports.Clear();
            _touched.Clear();
        }
        socket?.Dispose();
    }
}
