using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Xenolith.Abi;
using Xenolith.Domain0.Rings;

namespace Xenolith.Domain0.Xenstore;

/// <summary>
/// One introduced domain's connection over its xenstore ring page (xs_wire.h, xenstore-ring.txt).
/// Requests are taken from req[] as they complete, however the guest splits them and wherever
/// they wrap; replies and watch events go into rsp[] as far as it has room, the rest waiting until
/// the guest consumes and signals. While anything waits, no further request is read: a guest
/// that does not read its replies stops being served, and only it.
/// <para>
/// Every index and byte in the page is the guest's. Indices further apart than the ring (an
/// XENSTORE_ERROR_RINGIDX) or a payload longer than XENSTORE_PAYLOAD_MAX (XENSTORE_ERROR_PROTO)
/// put the ring in error: the error field says why and the ring is ignored until the guest
/// reconnects (connection = XENSTORE_RECONNECT), which both features advertised here allow.
/// </para>
/// All members run under the service's lock.
/// </summary>
internal sealed class XenstoreRingTransport(XenstoredService service, ushort domid) : IXenstoreTransport
{
    private static readonly SharedByteRing Requests = new(
        XenstoreInterface.Request, XenstoreInterface.RingSize, XenstoreInterface.RequestConsumer, XenstoreInterface.RequestProducer);
    private static readonly SharedByteRing Responses = new(
        XenstoreInterface.Response, XenstoreInterface.RingSize, XenstoreInterface.ResponseConsumer, XenstoreInterface.ResponseProducer);

    /// <summary>
    /// Watch events beyond this many queued bytes are dropped (oxenstored drops past its own
    /// limit): a guest that never reads must not make the host hold an unbounded backlog.
    /// </summary>
    internal const int MaxQueuedBytes = 256 * 1024;

    private readonly byte[] _input = new byte[XsWire.HeaderSize + XsWire.PayloadMax];
    private int _inputLength;
    private readonly Queue<byte[]> _output = new();
    /// <summary>Bytes of the head of <see cref="_output"/> already in rsp[].</summary>
    private int _outputOffset;
    private int _queuedBytes;
    private bool _notify;
    private bool _errored;
    private bool _closed;
    private bool _droppedEvents;
    private IGuestRing? _ring;

    public ushort DomainId { get; } = domid;

    public XenstoreConnection Connection { get; set; } = null!;

    /// <summary>The ring is in error and ignored until the guest reconnects.</summary>
    public bool IsErrored => _errored;

    /// <summary>The handler for the domain's port: Domain0's event thread, no lock held.</summary>
    public void OnSignal() => service.OnRingSignal(this);

    public void Attach(IGuestRing ring)
    {
        _ring = ring;
        Volatile.Write(ref Field(ring.Page, XenstoreInterface.ServerFeatures),
            XenstoreInterface.FeatureReconnection | XenstoreInterface.FeatureError);
    }

    /// <summary>The guest signalled: push queued output, then take every complete request that can be answered.</summary>
    public void Service()
    {
        if (_closed || _ring is null)
            return;
        service.Touch(this);
        Span<byte> page = _ring.Page;
        if (Volatile.Read(ref Field(page, XenstoreInterface.Connection)) == XenstoreInterface.Reconnect)
        {
            Reconnect(page);
            return;
        }
        if (_errored)
            return;
        WriteOutput(page);
        while (!_errored && _output.Count == 0)
        {
            switch (ReadFrame(page))
            {
                case FrameRead.Incomplete:
                    return;
                case FrameRead.Corrupt:
                    Fail(page, XenstoreInterface.ErrorRingIndex, "its request ring's indices are corrupt");
                    return;
                case FrameRead.Oversize:
                    XsHeader header = XsHeader.Read(_input);
                    Enqueue(XsWire.EncodeError(header.ReqId, header.TxId, XsError.E2BIG), watchEvent: false);
                    Fail(page, XenstoreInterface.ErrorProtocol, $"it sent a {header.Length}-byte payload");
                    return;
                case FrameRead.Complete:
                    bool ok = service.Dispatch(this, _input.AsSpan(0, _inputLength));
                    _inputLength = 0;
                    if (!ok)
                        Fail(page, XenstoreInterface.ErrorProtocol, "it sent a frame the daemon cannot read");
                    else
                        WriteOutput(page);
                    break;
            }
        }
    }

    public void Enqueue(byte[] message, bool watchEvent)
    {
        if (_errored || _closed)
            return;
        if (watchEvent && _queuedBytes + message.Length > MaxQueuedBytes)
        {
            if (!_droppedEvents)
                service.Logger.LogWarning("xenstored: domain {Domain} does not read its ring; dropping watch events", DomainId);
            _droppedEvents = true;
            return;
        }
        _output.Enqueue(message);
        _queuedBytes += message.Length;
    }

    public void Flush()
    {
        if (_closed || _ring is null)
            return;
        if (!_errored)
            WriteOutput(_ring.Page);
        if (_notify)
        {
            _notify = false;
            _ring.Notify();
        }
    }

    /// <summary>Lets go of the page and the port.</summary>
    public void Close()
    {
        if (_closed)
            return;
        _closed = true;
        _output.Clear();
        _ring?.Dispose();
    }

    private enum FrameRead { Incomplete, Complete, Corrupt, Oversize }

    /// <summary>Copies request bytes into the private buffer until one whole frame is there.</summary>
    private FrameRead ReadFrame(Span<byte> page)
    {
        while (true)
        {
            int frameLength = XsWire.HeaderSize;
            if (_inputLength >= XsWire.HeaderSize)
            {
                uint payload = BinaryPrimitives.ReadUInt32LittleEndian(_input.AsSpan(12));
                if (payload > XsWire.PayloadMax)
                    return FrameRead.Oversize;
                frameLength += (int)payload;
                if (_inputLength == frameLength)
                    return FrameRead.Complete;
            }
            int read = Requests.Read(page, _input.AsSpan(_inputLength, frameLength - _inputLength));
            if (read == SharedByteRing.Corrupt)
                return FrameRead.Corrupt;
            if (read == 0)
                return FrameRead.Incomplete;
            _inputLength += read;
            // The guest may be waiting for room to write the rest of a long request.
            _notify = true;
        }
    }

    private void WriteOutput(Span<byte> page)
    {
        while (_output.Count > 0)
        {
            byte[] head = _output.Peek();
            int written = Responses.Write(page, head.AsSpan(_outputOffset));
            if (written == SharedByteRing.Corrupt)
            {
                Fail(page, XenstoreInterface.ErrorRingIndex, "its response ring's indices are corrupt");
                return;
            }
            if (written == 0)
                return;
            _notify = true;
            _outputOffset += written;
            if (_outputOffset < head.Length)
                return;
            _output.Dequeue();
            _queuedBytes -= head.Length;
            _outputOffset = 0;
        }
    }

    /// <summary>
    /// Gives up on the ring until the guest reconnects: what is queued goes out if it can (an
    /// E2BIG reply), the rest is dropped, and the error field says why.
    /// </summary>
    private void Fail(Span<byte> page, uint error, string why)
    {
        if (_errored)
            return;
        // Marked first: a corrupt response index met by this last write must not fail again.
        _errored = true;
        WriteOutput(page);
        _output.Clear();
        _queuedBytes = 0;
        _outputOffset = 0;
        Volatile.Write(ref Field(page, XenstoreInterface.Error), error);
        _notify = true;
        service.Logger.LogWarning("xenstored: domain {Domain}'s ring is in error {Error}: {Why}", DomainId, error, why);
    }

    /// <summary>
    /// xenstore-ring.txt's reconnection: drop the partial request, the queued output, the
    /// connection's watches and transactions; zero the indices and the error; then say connected.
    /// </summary>
    private void Reconnect(Span<byte> page)
    {
        _inputLength = 0;
        _output.Clear();
        _queuedBytes = 0;
        _outputOffset = 0;
        _errored = false;
        _droppedEvents = false;
        service.ResetConnection(Connection);
        Requests.Reset(page);
        Responses.Reset(page);
        Volatile.Write(ref Field(page, XenstoreInterface.Error), XenstoreInterface.ErrorNone);
        Volatile.Write(ref Field(page, XenstoreInterface.Connection), XenstoreInterface.Connected);
        _notify = true;
    }

    private static ref uint Field(Span<byte> page, int offset) => ref MemoryMarshal.AsRef<uint>(page.Slice(offset, sizeof(uint)));

    public override string ToString() => $"xenstore ring of domain {DomainId}";
}
