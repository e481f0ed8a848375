using Xenolith.Abi;
using Xenolith.Domain0.Rings;
using Xenolith.Domain0.Xenstore;
using Xenolith.Tests.Xenstore;
using Xunit;

namespace Xenolith.Tests.Rings;

/// <summary>The guest's side of a xenstore ring: writes requests into req[], reads replies and events out of rsp[].</summary>
internal sealed class FakeXenstoreGuest(FakeGuestRing ring)
{
    private static readonly SharedByteRing Requests = new(
        XenstoreInterface.Request, XenstoreInterface.RingSize, XenstoreInterface.RequestConsumer, XenstoreInterface.RequestProducer);
    private static readonly SharedByteRing Responses = new(
        XenstoreInterface.Response, XenstoreInterface.RingSize, XenstoreInterface.ResponseConsumer, XenstoreInterface.ResponseProducer);

    private readonly List<byte> _received = [];
    private uint _nextRequestId = 1;

    public FakeGuestRing Ring { get; } = ring;

    public Span<byte> Page => Ring.GuestView;

    public uint Field(int offset) => BitConverter.ToUInt32(Page[offset..(offset + 4)]);

    public void SetField(int offset, uint value) => BitConverter.TryWriteBytes(Page[offset..(offset + 4)], value);

    /// <summary>A request frame; a write's value (its last argument) is raw bytes, not NUL-terminated.</summary>
    public static byte[] Frame(XsMessageType type, uint reqId, params string[] args) => XsWire.Encode(type, reqId, 0,
        type == XsMessageType.Write ? [.. XsWire.Strings(args[0]), .. System.Text.Encoding.Latin1.GetBytes(args[1])] : XsWire.Strings(args));

    public byte[] Frame(XsMessageType type, params string[] args) => Frame(type, _nextRequestId++, args);

    /// <summary>Writes as much of <paramref name="bytes"/> as fits; returns how much.</summary>
    public int Write(ReadOnlySpan<byte> bytes) => Requests.Write(Page, bytes);

    /// <summary>Writes all of it, failing if it does not fit.</summary>
    public void WriteAll(ReadOnlySpan<byte> bytes) => Assert.Equal(bytes.Length, Write(bytes));

    /// <summary>Writes one request, signals, and returns the messages that came back.</summary>
    public List<XsReply> Call(XsMessageType type, params string[] args)
    {
        WriteAll(Frame(type, args));
        Ring.Signal();
        return Receive();
    }

    /// <summary>Takes everything in rsp[] and returns the whole messages received so far.</summary>
    public List<XsReply> Receive()
    {
        var chunk = new byte[XenstoreInterface.RingSize];
        int read;
        while ((read = Responses.Read(Page, chunk)) > 0)
            _received.AddRange(chunk.AsSpan(0, read));
        var messages = new List<XsReply>();
        while (_received.Count >= XsWire.HeaderSize)
        {
            XsHeader header = XsHeader.Read([.. _received.GetRange(0, XsWire.HeaderSize)]);
            int length = XsWire.HeaderSize + (int)header.Length;
            if (_received.Count < length)
                break;
            messages.Add(XsReply.Decode([.. _received.GetRange(0, length)]));
            _received.RemoveRange(0, length);
        }
        return messages;
    }
}
