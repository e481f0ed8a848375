using System.Buffers.Binary;
using System.Text;

namespace Xenolith.Domain0.Xenstore;

/// <summary>The message types of xen/include/public/io/xs_wire.h (enum xsd_sockmsg_type).</summary>
public enum XsMessageType : uint
{
    Control = 0,
    Directory = 1,
    Read = 2,
    GetPerms = 3,
    Watch = 4,
    Unwatch = 5,
    TransactionStart = 6,
    TransactionEnd = 7,
    Introduce = 8,
    Release = 9,
    GetDomainPath = 10,
    Write = 11,
    Mkdir = 12,
    Rm = 13,
    SetPerms = 14,
    WatchEvent = 15,
    Error = 16,
    IsDomainIntroduced = 17,
    Resume = 18,
    SetTarget = 19,
    /// <summary>Obsolete (XS_RESTRICT); refused as an unknown operation.</summary>
    Restrict = 20,
    ResetWatches = 21,
    DirectoryPart = 22,
    Invalid = 0xffff,
}

/// <summary>The error strings a reply of type XS_ERROR carries (xsd_errors, plus EQUOTA).</summary>
public static class XsError
{
    public const string EINVAL = "EINVAL";
    public const string EACCES = "EACCES";
    public const string EEXIST = "EEXIST";
    public const string EISDIR = "EISDIR";
    public const string ENOENT = "ENOENT";
    public const string ENOMEM = "ENOMEM";
    public const string ENOSPC = "ENOSPC";
    public const string EIO = "EIO";
    public const string ENOTEMPTY = "ENOTEMPTY";
    public const string ENOSYS = "ENOSYS";
    public const string EROFS = "EROFS";
    public const string EBUSY = "EBUSY";
    public const string EAGAIN = "EAGAIN";
    public const string EISCONN = "EISCONN";
    public const string E2BIG = "E2BIG";
    public const string EPERM = "EPERM";
    /// <summary>A per-domain quota was exceeded (the string oxenstored sends).</summary>
    public const string EQUOTA = "EQUOTA";

    /// <summary>Every error string, in xsd_errors order (EPERM was added last there), then EQUOTA.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        EINVAL, EACCES, EEXIST, EISDIR, ENOENT, ENOMEM, ENOSPC, EIO, ENOTEMPTY, ENOSYS, EROFS,
        EBUSY, EAGAIN, EISCONN, E2BIG, EPERM, EQUOTA,
    ];
}

/// <summary>struct xsd_sockmsg: four little-endian u32s in front of every message.</summary>
public readonly record struct XsHeader(uint Type, uint ReqId, uint TxId, uint Length)
{
    public XsMessageType MessageType => (XsMessageType)Type;

    public static XsHeader Read(ReadOnlySpan<byte> bytes) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(bytes),
        BinaryPrimitives.ReadUInt32LittleEndian(bytes[4..]),
        BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]),
        BinaryPrimitives.ReadUInt32LittleEndian(bytes[12..]));

    public void Write(Span<byte> bytes)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Type);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[4..], ReqId);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[8..], TxId);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[12..], Length);
    }
}

/// <summary>A well-formed request: its header and its payload split into arguments.</summary>
/// <param name="Args">The NUL-terminated strings of the payload (Latin-1, so bytes round-trip).</param>
/// <param name="Value">For XS_WRITE, the binary value after the path; otherwise empty.</param>
public sealed record XsRequest(XsMessageType Type, uint ReqId, uint TxId, IReadOnlyList<string> Args, byte[] Value);

/// <summary>Why a frame was refused.</summary>
public enum XsParseError
{
    None,
    /// <summary>Fewer than 16 bytes, or fewer payload bytes than the header's len.</summary>
    Truncated,
    /// <summary>More bytes than the header's len announces.</summary>
    TrailingBytes,
    /// <summary>len exceeds XENSTORE_PAYLOAD_MAX: the connection must be dropped.</summary>
    Oversize,
    /// <summary>A type no client may send (unknown, obsolete, or a reply type).</summary>
    UnknownType,
    /// <summary>The payload lacks NUL terminators or the arguments the type requires.</summary>
    MalformedPayload,
}

/// <summary>The outcome of <see cref="XsWire.Parse"/>: a request, or an error to reply with.</summary>
public readonly record struct XsParseResult(XsRequest? Request, XsParseError Error, XsHeader? Header)
{
    public bool IsOk => Request is not null;

    /// <summary>The connection cannot continue (it announced an oversize payload).</summary>
    public bool IsFatal => Error is XsParseError.Oversize;

    /// <summary>The error string to reply with; EINVAL for every non-fatal parse error.</summary>
    public string ErrorString => Error == XsParseError.Oversize ? XsError.E2BIG : XsError.EINVAL;
}

/// <summary>Whether a buffer holds a whole frame yet.</summary>
public enum XsFrameStatus
{
    Incomplete,
    Complete,
    /// <summary>The header announces more than XENSTORE_PAYLOAD_MAX: drop the connection.</summary>
    Oversize,
}

/// <summary>
/// The xenstore wire protocol (xen/include/public/io/xs_wire.h, docs/misc/xenstore.txt): message
/// framing, argument splitting and reply encoding. Nothing here throws on guest input.
/// </summary>
public static class XsWire
{
    public const int HeaderSize = 16;
    public const int PayloadMax = 4096;
    public const int AbsPathMax = 3072;
    public const int RelPathMax = 2048;
    public const int RingSize = 1024;

    public const string WriteNone = "NONE";
    public const string WriteCreate = "CREATE";
    public const string WriteCreateExcl = "CREATE|EXCL";

    /// <summary>Checks whether <paramref name="buffer"/> starts with a whole frame.</summary>
    public static XsFrameStatus CheckFrame(ReadOnlySpan<byte> buffer, out int frameLength)
    {
        frameLength = 0;
        if (buffer.Length < HeaderSize)
            return XsFrameStatus.Incomplete;
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(buffer[12..]);
        if (len > PayloadMax)
            return XsFrameStatus.Oversize;
        frameLength = HeaderSize + (int)len;
        return buffer.Length >= frameLength ? XsFrameStatus.Complete : XsFrameStatus.Incomplete;
    }

    /// <summary>Parses exactly one frame: a 16-byte header followed by exactly len payload bytes.</summary>
    public static XsParseResult Parse(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < HeaderSize)
            return new(null, XsParseError.Truncated, null);
        XsHeader header = XsHeader.Read(frame);
        if (header.Length > PayloadMax)
            return new(null, XsParseError.Oversize, header);
        ReadOnlySpan<byte> payload = frame[HeaderSize..];
        if (payload.Length < header.Length)
            return new(null, XsParseError.Truncated, header);
        if (payload.Length > header.Length)
            return new(null, XsParseError.TrailingBytes, header);

        XsMessageType type = header.MessageType;
        XsRequest? request = type switch
        {
            XsMessageType.Directory or XsMessageType.Read or XsMessageType.GetPerms
                or XsMessageType.Mkdir or XsMessageType.Rm or XsMessageType.GetDomainPath
                or XsMessageType.IsDomainIntroduced or XsMessageType.Release
                or XsMessageType.Resume or XsMessageType.TransactionEnd
                => Strings(header, payload, 1, 1),
            XsMessageType.Write => WriteRequest(header, payload),
            // WATCH and UNWATCH: <wpath>|<token>|? with the reserved value optional.
            XsMessageType.Watch or XsMessageType.Unwatch => Strings(header, payload, 2, 3),
            XsMessageType.DirectoryPart or XsMessageType.SetTarget => Strings(header, payload, 2, 2),
            XsMessageType.Introduce => Strings(header, payload, 3, 4),
            XsMessageType.SetPerms => Strings(header, payload, 2, int.MaxValue),
            XsMessageType.Control => Strings(header, payload, 1, int.MaxValue),
            // TRANSACTION_START and RESET_WATCHES take an empty or reserved payload.
            XsMessageType.TransactionStart or XsMessageType.ResetWatches
                => new XsRequest(type, header.ReqId, header.TxId, [], []),
            _ => null,
        };
        if (request is not null)
            return new(request, XsParseError.None, header);
        bool known = type is >= XsMessageType.Control and <= XsMessageType.DirectoryPart
            and not XsMessageType.Restrict and not XsMessageType.WatchEvent and not XsMessageType.Error;
        return new(null, known ? XsParseError.MalformedPayload : XsParseError.UnknownType, header);
    }

    private static XsRequest? Strings(XsHeader header, ReadOnlySpan<byte> payload, int min, int max)
    {
        if (payload.Length == 0 || payload[^1] != 0)
            return null;
        var args = new List<string>();
        while (payload.Length > 0)
        {
            int nul = payload.IndexOf((byte)0);
            if (args.Count == max)
                return null;
            args.Add(Encoding.Latin1.GetString(payload[..nul]));
            payload = payload[(nul + 1)..];
        }
        return args.Count < min ? null : new XsRequest(header.MessageType, header.ReqId, header.TxId, args, []);
    }

    private static XsRequest? WriteRequest(XsHeader header, ReadOnlySpan<byte> payload)
    {
        int nul = payload.IndexOf((byte)0);
        if (nul < 0)
            return null;
        string path = Encoding.Latin1.GetString(payload[..nul]);
        return new XsRequest(XsMessageType.Write, header.ReqId, header.TxId, [path], payload[(nul + 1)..].ToArray());
    }

    /// <summary>Encodes a whole message: header then payload.</summary>
    public static byte[] Encode(XsMessageType type, uint reqId, uint txId, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[HeaderSize + payload.Length];
        new XsHeader((uint)type, reqId, txId, (uint)payload.Length).Write(bytes);
        payload.CopyTo(bytes.AsSpan(HeaderSize));
        return bytes;
    }

    /// <summary>Strings each followed by a NUL, as most payloads are built.</summary>
    public static byte[] Strings(params ReadOnlySpan<string> strings)
    {
        int length = 0;
        foreach (string s in strings)
            length += Encoding.Latin1.GetByteCount(s) + 1;
        var bytes = new byte[length];
        int at = 0;
        foreach (string s in strings)
        {
            at += Encoding.Latin1.GetBytes(s, bytes.AsSpan(at));
            bytes[at++] = 0;
        }
        return bytes;
    }

    /// <summary>An XS_ERROR reply carrying <paramref name="error"/>.</summary>
    public static byte[] EncodeError(uint reqId, uint txId, string error) =>
        Encode(XsMessageType.Error, reqId, txId, Strings(error));

    /// <summary>An XS_WATCH_EVENT message: <c>epath|token|</c> with req_id and tx_id 0.</summary>
    public static byte[] EncodeWatchEvent(string path, string token) =>
        Encode(XsMessageType.WatchEvent, 0, 0, Strings(path, token));

    /// <summary>The NUL-terminated strings of a reply or event payload (an unterminated tail is kept).</summary>
    public static IReadOnlyList<string> SplitStrings(ReadOnlySpan<byte> payload)
    {
        var result = new List<string>();
        while (payload.Length > 0)
        {
            int nul = payload.IndexOf((byte)0);
            if (nul < 0)
            {
                result.Add(Encoding.Latin1.GetString(payload));
                break;
            }
            result.Add(Encoding.Latin1.GetString(payload[..nul]));
            payload = payload[(nul + 1)..];
        }
        return result;
    }
}
