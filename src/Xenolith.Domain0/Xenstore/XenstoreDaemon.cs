using System.Globalization;

namespace Xenolith.Domain0.Xenstore;

/// <summary>
/// The core of xenstored, independent of transport: takes one request from a connection and
/// produces the reply and any watch events (docs/misc/xenstore.txt). Single-threaded and pure:
/// no sockets, rings or threads. Malformed or hostile requests get error replies, never exceptions.
/// </summary>
public sealed class XenstoreDaemon
{
    private static readonly byte[] Ok = XsWire.Strings("OK");
    private const string IntroduceDomainWatch = "@introduceDomain";
    private const string ReleaseDomainWatch = "@releaseDomain";

    private readonly List<XenstoreConnection> _connections = [];
    private readonly Dictionary<ushort, XenstoreDomain> _domains = [];
    private int _nextConnectionId = 1;
    private uint _nextTransactionId = 1;

    public XenstoreDaemon(XenstoreQuota? quota = null)
    {
        Quota = quota ?? new XenstoreQuota();
    }

    public XenstoreQuota Quota { get; }

    /// <summary>The live database.</summary>
    public XenstoreTree Tree { get; } = new();

    public IReadOnlyList<XenstoreConnection> Connections => _connections;

    /// <summary>Opens a connection for <paramref name="domid"/> (a Domain0 socket when 0).</summary>
    public XenstoreConnection Connect(ushort domid)
    {
        var connection = new XenstoreConnection(_nextConnectionId++, domid);
        if (_domains.TryGetValue(domid, out XenstoreDomain? domain))
            connection.Target = domain.Target;
        _connections.Add(connection);
        return connection;
    }

    /// <summary>Closes a connection: its watches and transactions go with it.</summary>
    public void Disconnect(XenstoreConnection connection)
    {
        connection.IsOpen = false;
        connection.Watches.Clear();
        connection.Transactions.Clear();
        _connections.Remove(connection);
    }

    /// <summary>Whether INTRODUCE has been done for the domain and not undone. Domain0 always is.</summary>
    public bool IsIntroduced(ushort domid) => domid == 0 || _domains.ContainsKey(domid);

    /// <summary>The introduced domain's record (ring frame and event channel), if introduced.</summary>
    public XenstoreDomain? Domain(ushort domid) => _domains.GetValueOrDefault(domid);

    /// <summary>
    /// What the hypervisor does when a domain dies: as XS_RELEASE from Domain0, its connection is
    /// closed and @releaseDomain fires. Returns the events (none if it was not introduced).
    /// </summary>
    public IReadOnlyList<XenstoreEvent> ReleaseDomain(ushort domid)
    {
        var events = new List<XenstoreEvent>();
        if (!_domains.Remove(domid, out XenstoreDomain? domain))
            return events;
        Disconnect(domain.Connection);
        Fire(new XsChange(ReleaseDomainWatch, false, null), events);
        return events;
    }

    /// <summary>
    /// Handles one whole frame (header and exactly its payload, as <see cref="XsWire.CheckFrame"/>
    /// delimits it) from <paramref name="connection"/>. Malformed frames get an XS_ERROR reply;
    /// an oversize or headerless one asks the transport to drop the connection.
    /// </summary>
    public XenstoreOutcome Process(XenstoreConnection connection, ReadOnlySpan<byte> frame)
    {
        XsParseResult parsed = XsWire.Parse(frame);
        if (parsed.Request is { } request)
            return Handle(connection, request);
        if (parsed.IsFatal || parsed.Header is not { } header)
            return new XenstoreOutcome(null, [], Disconnect: true);
        return new XenstoreOutcome(XsWire.EncodeError(header.ReqId, header.TxId, parsed.ErrorString), []);
    }

    /// <summary>Handles one parsed request from <paramref name="connection"/>.</summary>
    public XenstoreOutcome Handle(XenstoreConnection connection, XsRequest request)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(request);
        if (!connection.IsOpen)
            throw new InvalidOperationException($"{connection} is closed.");

        var events = new List<XenstoreEvent>();
        string? error = Dispatch(connection, request, events, out byte[] payload);
        byte[] reply = error is null
            ? XsWire.Encode(request.Type, request.ReqId, request.TxId, payload)
            : XsWire.EncodeError(request.ReqId, request.TxId, error);
        return new XenstoreOutcome(reply, events);
    }

    private string? Dispatch(XenstoreConnection c, XsRequest r, List<XenstoreEvent> events, out byte[] payload)
    {
        payload = Ok;
        IReadOnlyList<string> a = r.Args;
        switch (r.Type)
        {
            case XsMessageType.Read:
            case XsMessageType.Write:
            case XsMessageType.Mkdir:
            case XsMessageType.Rm:
            case XsMessageType.Directory:
            case XsMessageType.DirectoryPart:
            case XsMessageType.GetPerms:
            case XsMessageType.SetPerms:
                return DatabaseOp(c, r, events, out payload);
            case XsMessageType.Watch:
                return Watch(c, a[0], a[1], events);
            case XsMessageType.Unwatch:
                return Unwatch(c, a[0], a[1]);
            case XsMessageType.ResetWatches:
                c.Watches.Clear();
                c.Transactions.Clear();
                return null;
            case XsMessageType.TransactionStart:
                return TransactionStart(c, r.TxId, out payload);
            case XsMessageType.TransactionEnd:
                return TransactionEnd(c, r.TxId, a[0], events);
            case XsMessageType.Introduce:
                return Introduce(c, a, events);
            case XsMessageType.Release:
                return Release(c, a[0], events);
            case XsMessageType.Resume:
                if (!c.IsPrivileged)
                    return XsError.EACCES;
                if (!XsDomId.TryParse(a[0], out ushort resumed))
                    return XsError.EINVAL;
                return _domains.ContainsKey(resumed) ? null : XsError.ENOENT;
            case XsMessageType.GetDomainPath:
                if (!XsDomId.TryParse(a[0], out ushort pathDomain))
                    return XsError.EINVAL;
                payload = XsWire.Strings(XenstorePath.DomainPath(pathDomain));
                return null;
            case XsMessageType.IsDomainIntroduced:
                if (!XsDomId.TryParse(a[0], out ushort asked))
                    return XsError.EINVAL;
                payload = XsWire.Strings(IsIntroduced(asked) ? "T" : "F");
                return null;
            case XsMessageType.SetTarget:
                return SetTarget(c, a[0], a[1]);
            case XsMessageType.Control:
                if (!c.IsPrivileged)
                    return XsError.EACCES;
                if (a[0] == "check")
                    return null;
                if (a[0] == "help")
                {
                    payload = XsWire.Strings("check\nhelp\n");
                    return null;
                }
                return XsError.EINVAL;
            default:
                return XsError.EINVAL;
        }
    }

    // ---------- Database operations ----------

    private string? DatabaseOp(XenstoreConnection c, XsRequest r, List<XenstoreEvent> events, out byte[] payload)
    {
        payload = Ok;
        IXsStore store = Tree;
        XsTransaction? tx = null;
        if (r.TxId != 0)
        {
            if (!c.Transactions.TryGetValue(r.TxId, out tx))
                return XsError.ENOENT;
            store = tx.Store;
        }
        if (!XenstorePath.TryCanonicalize(r.Args[0], c.DomId, out string path))
            return XsError.EINVAL;

        var changes = new List<XsChange>();
        var ctx = new Caller(c.DomId, c.Target);
        string? error = r.Type switch
        {
            XsMessageType.Read => Read(store, ctx, path, out payload),
            XsMessageType.Write => Write(store, ctx, path, r.Value, changes),
            XsMessageType.Mkdir => Mkdir(store, ctx, path, changes),
            XsMessageType.Rm => Rm(store, ctx, path, changes),
            XsMessageType.Directory => Directory(store, ctx, path, out payload),
            XsMessageType.DirectoryPart => DirectoryPart(store, ctx, path, r.Args[1], out payload),
            XsMessageType.GetPerms => GetPerms(store, ctx, path, out payload),
            XsMessageType.SetPerms => SetPerms(store, ctx, path, r.Args.Skip(1), changes),
            _ => XsError.EINVAL,
        };
        if (error is not null)
        {
            payload = [];
            return error;
        }
        if (tx is not null)
            tx.Changes.AddRange(changes);
        else
            foreach (XsChange change in changes)
                Fire(change, events);
        return null;
    }

    private readonly record struct Caller(ushort DomId, ushort? Target)
    {
        public bool Privileged => DomId == 0;
        public bool Can(XsNode node, XsAccess access) =>
            (node.Permissions.AccessFor(DomId, Target) & access) == access;
    }

    /// <summary>
    /// The error for a missing node, as Xen's errno_from_parents: EACCES if the nearest existing
    /// ancestor denies the access, so that unreadable subtrees do not reveal what they hold.
    /// </summary>
    private static string Missing(IXsStore store, Caller ctx, string path, XsAccess access)
    {
        string p = path;
        while (p != "/")
        {
            p = XenstorePath.Parent(p);
            if (store.Get(p) is { } ancestor)
                return ctx.Can(ancestor, access) ? XsError.ENOENT : XsError.EACCES;
        }
        return XsError.ENOENT;
    }

    private static string? Read(IXsStore store, Caller ctx, string path, out byte[] payload)
    {
        payload = [];
        if (store.Get(path) is not { } node)
            return Missing(store, ctx, path, XsAccess.Read);
        if (!ctx.Can(node, XsAccess.Read))
            return XsError.EACCES;
        payload = node.Value;
        return null;
    }

    private string? Write(IXsStore store, Caller ctx, string path, byte[] value, List<XsChange> changes)
    {
        if (store.Get(path) is { } node)
        {
            if (!ctx.Can(node, XsAccess.Write))
                return XsError.EACCES;
            if (!ctx.Privileged && value.Length > Quota.MaxValueSize)
                return XsError.E2BIG;
            XsNode changed = node.Clone();
            changed.Value = value;
            store.Put(path, changed);
            changes.Add(new XsChange(path, false, changed.Permissions, node.Permissions));
            return null;
        }
        return Create(store, ctx, path, value, changes);
    }

    private string? Mkdir(IXsStore store, Caller ctx, string path, List<XsChange> changes)
    {
        if (store.Get(path) is { } node)
            return ctx.Can(node, XsAccess.Write) ? null : XsError.EACCES;
        return Create(store, ctx, path, [], changes);
    }

    /// <summary>
    /// Creates <paramref name="path"/> and any missing parents (with empty values). Each new node
    /// inherits its parent's ACL; an unprivileged creator becomes the owner.
    /// </summary>
    private string? Create(IXsStore store, Caller ctx, string path, byte[] value, List<XsChange> changes)
    {
        var missing = new List<string> { path };
        string parentPath = XenstorePath.Parent(path);
        XsNode? parent;
        while ((parent = store.Get(parentPath)) is null)
        {
            missing.Add(parentPath);
            parentPath = XenstorePath.Parent(parentPath);
        }
        if (!ctx.Can(parent, XsAccess.Write))
            return XsError.EACCES;
        if (!ctx.Privileged)
        {
            if (value.Length > Quota.MaxValueSize)
                return XsError.E2BIG;
            if (store.OwnedBy(ctx.DomId) + missing.Count > Quota.MaxEntriesPerDomain)
                return XsError.EQUOTA;
        }

        for (int i = missing.Count - 1; i >= 0; i--)
        {
            string childPath = missing[i];
            XsNode updated = parent.Clone();
            updated.Children.Add(XenstorePath.LeafName(childPath));
            store.Put(parentPath, updated);
            XsPermissions permissions = ctx.Privileged ? parent.Permissions : parent.Permissions.WithOwner(ctx.DomId);
            var child = new XsNode(i == 0 ? value : [], permissions, []);
            store.Put(childPath, child);
            parent = child;
            parentPath = childPath;
        }
        changes.Add(new XsChange(path, false, parent.Permissions));
        return null;
    }

    private static string? Rm(IXsStore store, Caller ctx, string path, List<XsChange> changes)
    {
        if (path == "/")
            return XsError.EINVAL;
        string parentPath = XenstorePath.Parent(path);
        if (store.Get(path) is not { } node)
        {
            string error = Missing(store, ctx, path, XsAccess.Write);
            // Not an error if the node is missing but its parent exists.
            return error == XsError.ENOENT && store.Get(parentPath) is not null ? null : error;
        }
        if (!ctx.Can(node, XsAccess.Write))
            return XsError.EACCES;

        var pending = new Stack<string>();
        pending.Push(path);
        while (pending.Count > 0)
        {
            string p = pending.Pop();
            if (store.Get(p) is { } n)
                foreach (string leaf in n.Children)
                    pending.Push(XenstorePath.Child(p, leaf));
            store.Remove(p);
        }
        if (store.Get(parentPath) is { } parent)
        {
            XsNode updated = parent.Clone();
            updated.Children.Remove(XenstorePath.LeafName(path));
            store.Put(parentPath, updated);
        }
        changes.Add(new XsChange(path, true, node.Permissions));
        return null;
    }

    private static string? Directory(IXsStore store, Caller ctx, string path, out byte[] payload)
    {
        payload = [];
        if (store.Get(path) is not { } node)
            return Missing(store, ctx, path, XsAccess.Read);
        if (!ctx.Can(node, XsAccess.Read))
            return XsError.EACCES;
        payload = XsWire.Strings([.. node.Children]);
        return payload.Length > XsWire.PayloadMax ? XsError.E2BIG : null;
    }

    /// <summary>
    /// DIRECTORY_PART: the node's generation, then the children list from byte
    /// <paramref name="offsetText"/> on, cut at a name boundary to fit a payload. When the rest
    /// of the list fits, an empty string (a second NUL) marks its end.
    /// </summary>
    private static string? DirectoryPart(IXsStore store, Caller ctx, string path, string offsetText, out byte[] payload)
    {
        payload = [];
        if (!uint.TryParse(offsetText, NumberStyles.None, CultureInfo.InvariantCulture, out uint offset))
            return XsError.EINVAL;
        if (store.Get(path) is not { } node)
            return Missing(store, ctx, path, XsAccess.Read);
        if (!ctx.Can(node, XsAccess.Read))
            return XsError.EACCES;
        byte[] all = XsWire.Strings([.. node.Children]);
        if (offset > all.Length)
            return XsError.EINVAL;
        byte[] generation = XsWire.Strings(node.Generation.ToString(CultureInfo.InvariantCulture));
        ReadOnlySpan<byte> rest = all.AsSpan((int)offset);
        int budget = XsWire.PayloadMax - generation.Length;
        bool end = rest.Length + 1 <= budget;
        int take = end ? rest.Length : rest[..budget].LastIndexOf((byte)0) + 1;
        payload = new byte[generation.Length + take + (end ? 1 : 0)];
        generation.CopyTo(payload, 0);
        rest[..take].CopyTo(payload.AsSpan(generation.Length));
        return null;
    }

    private static string? GetPerms(IXsStore store, Caller ctx, string path, out byte[] payload)
    {
        payload = [];
        if (store.Get(path) is not { } node)
            return Missing(store, ctx, path, XsAccess.Read);
        if (!ctx.Can(node, XsAccess.Read))
            return XsError.EACCES;
        payload = XsWire.Strings([.. node.Permissions.ToStrings()]);
        return payload.Length > XsWire.PayloadMax ? XsError.E2BIG : null;
    }

    /// <summary>SET_PERMS: only the owner (or Domain0) may, and only Domain0 may give the node away.</summary>
    private static string? SetPerms(IXsStore store, Caller ctx, string path, IEnumerable<string> texts, List<XsChange> changes)
    {
        if (!XsPermissions.TryParse(texts, out XsPermissions? permissions) || permissions is null)
            return XsError.EINVAL;
        if (store.Get(path) is not { } node)
            return Missing(store, ctx, path, XsAccess.Write);
        ushort owner = node.Permissions.Owner;
        bool isOwner = ctx.Privileged || ctx.DomId == owner || ctx.Target == owner;
        if (!isOwner)
            return XsError.EACCES;
        // Xen's do_set_perms: an unprivileged owner may not give the node away.
        if (!ctx.Privileged && permissions.Owner != owner)
            return XsError.EPERM;
        XsNode changed = node.Clone();
        changed.Permissions = permissions;
        store.Put(path, changed);
        changes.Add(new XsChange(path, false, permissions, node.Permissions));
        return null;
    }

    // ---------- Watches ----------

    private string? Watch(XenstoreConnection c, string given, string token, List<XenstoreEvent> events)
    {
        string absolute;
        bool relative = false;
        if (given.StartsWith('@'))
        {
            if (given.Length > XsWire.AbsPathMax || !XenstorePath.IsValidAbsolute("/" + given[1..]))
                return XsError.EINVAL;
            absolute = given;
        }
        else
        {
            if (!XenstorePath.TryCanonicalize(given, c.DomId, out absolute))
                return XsError.EINVAL;
            relative = given[0] != '/';
        }
        foreach (XsWatch w in c.Watches)
            if (w.GivenPath == given && w.Token == token)
                return XsError.EEXIST;
        if (!c.IsPrivileged && c.Watches.Count >= Quota.MaxWatchesPerConnection)
            return XsError.EQUOTA;
        c.Watches.Add(new XsWatch(given, absolute, token, relative, XenstorePath.DomainPath(c.DomId)));
        // A new watch fires once straight away, with its own path.
        events.Add(new XenstoreEvent(c, given, token));
        return null;
    }

    private static string? Unwatch(XenstoreConnection c, string given, string token)
    {
        int index = c.Watches.FindIndex(w => w.GivenPath == given && w.Token == token);
        if (index < 0)
            return XsError.ENOENT;
        c.Watches.RemoveAt(index);
        return null;
    }

    /// <summary>
    /// Announces a change to every matching watch: watches on the path or an ancestor see the
    /// path; when a subtree is removed, watches inside it see their own path. A watcher hears
    /// about a node only if it may read it.
    /// </summary>
    private static bool CanRead(XsPermissions acl, XenstoreConnection c) => (acl.AccessFor(c.DomId, c.Target) & XsAccess.Read) != 0;

    private void Fire(XsChange change, List<XenstoreEvent> events)
    {
        foreach (XenstoreConnection c in _connections)
        {
            if (change.Permissions is { } acl && !CanRead(acl, c) && !(change.OldPermissions is { } old && CanRead(old, c)))
                continue;
            foreach (XsWatch w in c.Watches)
            {
                string epath;
                if (XenstorePath.IsChildOf(change.Path, w.AbsolutePath))
                    epath = change.Path;
                else if (change.Removed && XenstorePath.IsChildOf(w.AbsolutePath, change.Path))
                    epath = w.AbsolutePath;
                else
                    continue;
                if (w.Relative)
                    epath = epath[(w.RelativeBase.Length + 1)..];
                // An event must fit a payload; a long token under a deep path could overflow it.
                if (epath.Length + w.Token.Length + 2 > XsWire.PayloadMax)
                    continue;
                events.Add(new XenstoreEvent(c, epath, w.Token));
            }
        }
    }

    // ---------- Transactions ----------

    private string? TransactionStart(XenstoreConnection c, uint txId, out byte[] payload)
    {
        payload = [];
        if (txId != 0)
            return XsError.EBUSY;
        if (!c.IsPrivileged && c.Transactions.Count >= Quota.MaxTransactionsPerConnection)
            return XsError.EQUOTA;
        uint id;
        do
        {
            id = _nextTransactionId++;
        } while (id == 0 || _connections.Any(x => x.Transactions.ContainsKey(id)));
        c.Transactions.Add(id, new XsTransaction(id, Tree));
        payload = XsWire.Strings(id.ToString(CultureInfo.InvariantCulture));
        return null;
    }

    private string? TransactionEnd(XenstoreConnection c, uint txId, string verdict, List<XenstoreEvent> events)
    {
        if (verdict is not ("T" or "F"))
            return XsError.EINVAL;
        if (txId == 0 || !c.Transactions.Remove(txId, out XsTransaction? tx))
            return XsError.ENOENT;
        if (verdict == "F")
            return null;
        if (!tx.Store.TryCommit())
            return XsError.EAGAIN;
        // One event per changed path per commit, however often the transaction touched it, heard by
        // whoever could read the node before the transaction's first change to it or after its last.
        var merged = new Dictionary<(string, bool), XsChange>();
        var order = new List<(string, bool)>();
        foreach (XsChange change in tx.Changes)
        {
            (string, bool) key = (change.Path, change.Removed);
            if (merged.TryGetValue(key, out XsChange first))
            {
                merged[key] = change with { OldPermissions = first.OldPermissions ?? first.Permissions };
                continue;
            }
            merged.Add(key, change);
            order.Add(key);
        }
        foreach ((string, bool) key in order)
            Fire(merged[key], events);
        return null;
    }

    // ---------- Domains ----------

    private string? Introduce(XenstoreConnection c, IReadOnlyList<string> a, List<XenstoreEvent> events)
    {
        if (!c.IsPrivileged)
            return XsError.EACCES;
        if (!XsDomId.TryParse(a[0], out ushort domid) || domid == 0 || domid >= XsDomId.FirstReserved)
            return XsError.EINVAL;
        if (!long.TryParse(a[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long mfn)
            || !uint.TryParse(a[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint port))
            return XsError.EINVAL;
        if (_domains.ContainsKey(domid))
            return null;
        XenstoreConnection connection = Connect(domid);
        _domains.Add(domid, new XenstoreDomain(domid, mfn, port, connection));
        Fire(new XsChange(IntroduceDomainWatch, false, null), events);
        return null;
    }

    private string? Release(XenstoreConnection c, string domText, List<XenstoreEvent> events)
    {
        if (!c.IsPrivileged)
            return XsError.EACCES;
        if (!XsDomId.TryParse(domText, out ushort domid) || domid == 0)
            return XsError.EINVAL;
        if (!_domains.ContainsKey(domid))
            return XsError.ENOENT;
        events.AddRange(ReleaseDomain(domid));
        return null;
    }

    private string? SetTarget(XenstoreConnection c, string domText, string targetText)
    {
        if (!c.IsPrivileged)
            return XsError.EACCES;
        if (!XsDomId.TryParse(domText, out ushort domid) || !XsDomId.TryParse(targetText, out ushort target))
            return XsError.EINVAL;
        if (!_domains.TryGetValue(domid, out XenstoreDomain? domain))
            return XsError.ENOENT;
        domain.Target = target;
        foreach (XenstoreConnection x in _connections)
            if (x.DomId == domid)
                x.Target = target;
        return null;
    }
}

/// <summary>An introduced domain: where its ring is and how to signal it.</summary>
public sealed class XenstoreDomain(ushort domid, long mfn, uint eventChannel, XenstoreConnection connection)
{
    public ushort DomId { get; } = domid;
    /// <summary>The ring page's frame, as INTRODUCE gave it.</summary>
    public long Mfn { get; } = mfn;
    /// <summary>The domain's unbound event channel port, as INTRODUCE gave it.</summary>
    public uint EventChannel { get; } = eventChannel;
    public XenstoreConnection Connection { get; } = connection;
    public ushort? Target { get; internal set; }
}
