using System.Globalization;
using System.Text;
using System.Threading.Channels;

namespace Xenolith.Domain0.Xenstore;

/// <summary>
/// An in-process Domain0 connection to xenstored, as libxenstore gives the toolstack: each call
/// is one request through the wire encoding and the same path as a socket client's, so INTRODUCE
/// attaches the domain's ring and changes fire watches. Errors come back as
/// <see cref="XenstoreException"/>; a missing node reads as null. Thread-safe.
/// </summary>
public sealed class XenstoreLocalClient : IDisposable
{
    private readonly XenstoredService _service;
    private readonly LocalTransport _transport;
    private readonly Lock _requestLock = new();
    private uint _nextRequestId = 1;

    internal XenstoreLocalClient(XenstoredService service)
    {
        _service = service;
        LocalTransport? transport = null;
        _ = service.Register(connection => transport = new LocalTransport(connection))
            ?? throw new ObjectDisposedException(nameof(XenstoredService));
        _transport = transport!;
    }

    /// <summary>This connection's watch events, in order.</summary>
    public ChannelReader<XenstoreWatchEvent> WatchEvents => _transport.Events.Reader;

    public string? Read(string path, uint transaction = 0)
    {
        byte[]? value = ReadBytes(path, transaction);
        return value is null ? null : Encoding.Latin1.GetString(value);
    }

    public byte[]? ReadBytes(string path, uint transaction = 0)
    {
        (bool ok, byte[] payload, string? error) = Request(XsMessageType.Read, transaction, XsWire.Strings(path));
        if (ok)
            return payload;
        return error == XsError.ENOENT ? null : throw new XenstoreException($"read {path}", error!);
    }

    public void Write(string path, string value, uint transaction = 0) =>
        Check($"write {path}", XsMessageType.Write, transaction, [.. XsWire.Strings(path), .. Encoding.Latin1.GetBytes(value)]);

    public void Mkdir(string path, uint transaction = 0) => Check($"mkdir {path}", XsMessageType.Mkdir, transaction, XsWire.Strings(path));

    /// <summary>Removes a node and everything under it; a node that is not there is not an error (as libxl treats xs_rm).</summary>
    public void Remove(string path, uint transaction = 0)
    {
        (bool ok, _, string? error) = Request(XsMessageType.Rm, transaction, XsWire.Strings(path));
        if (!ok && error != XsError.ENOENT)
            throw new XenstoreException($"rm {path}", error!);
    }

    /// <summary>Sets a node's ACL: owner-and-default entry first (e.g. "n0"), then per-domain ones ("r5").</summary>
    public void SetPermissions(string path, IReadOnlyList<string> acl, uint transaction = 0) =>
        Check($"setperms {path}", XsMessageType.SetPerms, transaction, XsWire.Strings([path, .. acl]));

    public IReadOnlyList<string> GetPermissions(string path, uint transaction = 0) =>
        XsWire.SplitStrings(Check($"getperms {path}", XsMessageType.GetPerms, transaction, XsWire.Strings(path)));

    /// <summary>The children's names; empty for a missing node.</summary>
    public IReadOnlyList<string> Directory(string path, uint transaction = 0)
    {
        (bool ok, byte[] payload, string? error) = Request(XsMessageType.Directory, transaction, XsWire.Strings(path));
        if (ok)
            return XsWire.SplitStrings(payload);
        return error == XsError.ENOENT ? [] : throw new XenstoreException($"directory {path}", error!);
    }

    public void Watch(string path, string token) => Check($"watch {path}", XsMessageType.Watch, 0, XsWire.Strings(path, token));

    public void Unwatch(string path, string token) => Check($"unwatch {path}", XsMessageType.Unwatch, 0, XsWire.Strings(path, token));

    /// <summary>XS_INTRODUCE: the domain's ring at <paramref name="mfn"/>, signalled on its port <paramref name="port"/>.</summary>
    public void Introduce(ushort domid, ulong mfn, uint port) =>
        Check($"introduce {domid}", XsMessageType.Introduce, 0, XsWire.Strings(
            domid.ToString(CultureInfo.InvariantCulture), mfn.ToString(CultureInfo.InvariantCulture), port.ToString(CultureInfo.InvariantCulture)));

    public void Release(ushort domid) =>
        Check($"release {domid}", XsMessageType.Release, 0, XsWire.Strings(domid.ToString(CultureInfo.InvariantCulture)));

    public bool IsIntroduced(ushort domid) =>
        XsWire.SplitStrings(Check($"is_domain_introduced {domid}", XsMessageType.IsDomainIntroduced, 0,
            XsWire.Strings(domid.ToString(CultureInfo.InvariantCulture))))[0] == "T";

    public uint StartTransaction() =>
        uint.Parse(XsWire.SplitStrings(Check("transaction_start", XsMessageType.TransactionStart, 0, XsWire.Strings("")))[0], CultureInfo.InvariantCulture);

    /// <summary>Ends a transaction; false when it conflicted with another change (EAGAIN) and must be redone.</summary>
    public bool EndTransaction(uint transaction, bool commit)
    {
        (bool ok, _, string? error) = Request(XsMessageType.TransactionEnd, transaction, XsWire.Strings(commit ? "T" : "F"));
        if (ok)
            return true;
        return error == XsError.EAGAIN ? false : throw new XenstoreException("transaction_end", error!);
    }

    /// <summary>Runs <paramref name="body"/> in a transaction, again from the start while the commit conflicts.</summary>
    public void InTransaction(Action<uint> body)
    {
        while (true)
        {
            uint transaction = StartTransaction();
            try
            {
                body(transaction);
            }
            catch
            {
                EndTransaction(transaction, commit: false);
                throw;
            }
            if (EndTransaction(transaction, commit: true))
                return;
        }
    }

    public void Dispose() => _service.Unregister(_transport.Connection);

    private byte[] Check(string operation, XsMessageType type, uint transaction, byte[] payload)
    {
        (bool ok, byte[] reply, string? error) = Request(type, transaction, payload);
        return ok ? reply : throw new XenstoreException(operation, error!);
    }

    private (bool Ok, byte[] Payload, string? Error) Request(XsMessageType type, uint transaction, byte[] payload)
    {
        lock (_requestLock)
        {
            byte[] frame = XsWire.Encode(type, _nextRequestId++, transaction, payload);
            byte[]? reply = null;
            bool open = _service.RunBatch(_transport, () =>
            {
                if (!_service.Dispatch(_transport, frame))
                    throw new XenstoreException(type.ToString(), XsError.EINVAL);
                reply = _transport.TakeReply();
            });
            if (!open || reply is null)
                throw new ObjectDisposedException(nameof(XenstoreLocalClient));
            XsHeader header = XsHeader.Read(reply);
            byte[] body = reply[XsWire.HeaderSize..];
            return header.MessageType == XsMessageType.Error
                ? (false, body, XsWire.SplitStrings(body)[0])
                : (true, body, null);
        }
    }

    /// <summary>Replies are handed straight back to the caller; watch events go to the channel.</summary>
    private sealed class LocalTransport(XenstoreConnection connection) : IXenstoreTransport
    {
        private byte[]? _reply;

        public XenstoreConnection Connection { get; } = connection;

        public Channel<XenstoreWatchEvent> Events { get; } = Channel.CreateUnbounded<XenstoreWatchEvent>(
            new UnboundedChannelOptions { SingleReader = false, SingleWriter = true });

        public void Enqueue(byte[] message, bool watchEvent)
        {
            if (!watchEvent)
            {
                _reply = message;
                return;
            }
            IReadOnlyList<string> parts = XsWire.SplitStrings(message.AsSpan(XsWire.HeaderSize));
            Events.Writer.TryWrite(new XenstoreWatchEvent(parts[0], parts[1]));
        }

        public void Flush() { }

        public byte[]? TakeReply()
        {
            byte[]? reply = _reply;
            _reply = null;
            return reply;
        }
    }
}
