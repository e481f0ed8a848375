namespace Xenolith.Domain0.Xenstore;

/// <summary>Per-domain limits; Domain0 (privileged) is exempt from all of them.</summary>
/// <param name="MaxEntriesPerDomain">Nodes a domain may own (EQUOTA beyond).</param>
/// <param name="MaxValueSize">Bytes in one value (E2BIG beyond).</param>
/// <param name="MaxWatchesPerConnection">Watches one connection may hold (EQUOTA beyond).</param>
/// <param name="MaxTransactionsPerConnection">Open transactions per connection (EQUOTA beyond).</param>
public sealed record XenstoreQuota(
    int MaxEntriesPerDomain = 1000,
    int MaxValueSize = 2048,
    int MaxWatchesPerConnection = 128,
    int MaxTransactionsPerConnection = 10);

/// <summary>
/// One client of the daemon: a domain's ring, or a Domain0 socket. Holds the client's watches
/// and open transactions; the transport owns the bytes.
/// </summary>
public sealed class XenstoreConnection
{
    internal XenstoreConnection(int id, ushort domid)
    {
        Id = id;
        DomId = domid;
    }

    /// <summary>Unique among the daemon's connections.</summary>
    public int Id { get; }

    /// <summary>The domain speaking; relative paths are taken from /local/domain/&lt;DomId&gt;.</summary>
    public ushort DomId { get; }

    /// <summary>Domain0 may do anything and is exempt from quotas.</summary>
    public bool IsPrivileged => DomId == 0;

    /// <summary>False once disconnected or its domain released.</summary>
    public bool IsOpen { get; internal set; } = true;

    /// <summary>The domain this one targets (SET_TARGET), whose nodes it may treat as its own.</summary>
    public ushort? Target { get; internal set; }

    internal List<XsWatch> Watches { get; } = [];
    internal Dictionary<uint, XsTransaction> Transactions { get; } = [];

    public int WatchCount => Watches.Count;
    public int TransactionCount => Transactions.Count;

    public override string ToString() => $"xenstore connection {Id} (domain {DomId})";
}

/// <summary>A watch as set: the path as given (relative or not), resolved, and its token.</summary>
internal sealed record XsWatch(string GivenPath, string AbsolutePath, string Token, bool Relative, string RelativeBase);

/// <summary>An open transaction: its store and the changes to announce if it commits.</summary>
internal sealed class XsTransaction(uint id, XenstoreTree tree)
{
    public uint Id { get; } = id;
    public XsTransactionStore Store { get; } = new(tree);
    public List<XsChange> Changes { get; } = [];
}

/// <summary>A change to announce: the path, whether it was removed, and the ACL that governs who hears.</summary>
/// <summary>
/// A change watches may hear of. Xen's fire_watches tells a connection that could read the node
/// under either its permissions before the change or after it, so a watcher that just lost (or just
/// gained) access still learns of it. Null permissions: a special path, fired to everyone.
/// </summary>
internal readonly record struct XsChange(string Path, bool Removed, XsPermissions? Permissions, XsPermissions? OldPermissions = null);

/// <summary>A watch event for one connection.</summary>
public sealed record XenstoreEvent(XenstoreConnection Connection, string Path, string Token)
{
    /// <summary>The XS_WATCH_EVENT message to send.</summary>
    public byte[] Encode() => XsWire.EncodeWatchEvent(Path, Token);
}

/// <summary>
/// What handling one request produced: the reply to send back (null only when the connection
/// must be dropped), and the watch events to deliver, after the reply, to their connections.
/// </summary>
public sealed record XenstoreOutcome(byte[]? Reply, IReadOnlyList<XenstoreEvent> Events, bool Disconnect = false);
