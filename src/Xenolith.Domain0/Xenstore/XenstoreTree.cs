namespace Xenolith.Domain0.Xenstore;

/// <summary>
/// One node: its value, its ACL, its children's leaf names in creation order, and the
/// generation it was last changed in. Nodes held by a store are never mutated: a change puts a
/// modified copy.
/// </summary>
internal sealed class XsNode(byte[] value, XsPermissions permissions, List<string> children)
{
    public byte[] Value { get; set; } = value;
    public XsPermissions Permissions { get; set; } = permissions;
    public List<string> Children { get; } = children;
    public ulong Generation { get; set; }

    public XsNode Clone() => new(Value, Permissions, [.. Children]) { Generation = Generation };
}

/// <summary>Where operations read and write nodes: the live tree, or a transaction over it.</summary>
internal interface IXsStore
{
    XsNode? Get(string path);
    void Put(string path, XsNode node);
    void Remove(string path);
    /// <summary>How many nodes <paramref name="domid"/> owns (for the entries quota).</summary>
    int OwnedBy(ushort domid);
}

/// <summary>
/// The live database: absolute paths to nodes, with a generation counter bumped by every change
/// and per-owner node counts. Starts with only the root, owned by Domain0 (<c>n0</c>).
/// </summary>
public sealed class XenstoreTree : IXsStore
{
    private readonly Dictionary<string, XsNode> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<ushort, int> _owned = [];
    private ulong _generation;

    public XenstoreTree()
    {
        Put("/", new XsNode([], XsPermissions.Root, []));
    }

    /// <summary>How many nodes exist, the root included.</summary>
    public int Count => _nodes.Count;

    /// <summary>The generation of the latest change.</summary>
    public ulong Generation => _generation;

    public bool Exists(string path) => _nodes.ContainsKey(path);

    /// <summary>A node's value, bypassing permissions (for Domain0's own use and tests).</summary>
    public byte[]? ValueOf(string path) => _nodes.TryGetValue(path, out XsNode? n) ? n.Value : null;

    /// <summary>A node's ACL, bypassing permissions.</summary>
    public XsPermissions? PermissionsOf(string path) => _nodes.TryGetValue(path, out XsNode? n) ? n.Permissions : null;

    /// <summary>A node's children's leaf names, bypassing permissions.</summary>
    public IReadOnlyList<string>? ChildrenOf(string path) => _nodes.TryGetValue(path, out XsNode? n) ? n.Children : null;

    public int OwnedBy(ushort domid) => _owned.GetValueOrDefault(domid);

    internal ulong GenerationOf(string path) => _nodes.TryGetValue(path, out XsNode? n) ? n.Generation : 0;

    XsNode? IXsStore.Get(string path) => _nodes.GetValueOrDefault(path);

    internal void Put(string path, XsNode node)
    {
        if (_nodes.TryGetValue(path, out XsNode? old))
            Tally(old.Permissions.Owner, -1);
        node.Generation = ++_generation;
        _nodes[path] = node;
        Tally(node.Permissions.Owner, +1);
    }

    void IXsStore.Put(string path, XsNode node) => Put(path, node);

    void IXsStore.Remove(string path)
    {
        if (_nodes.Remove(path, out XsNode? old))
        {
            Tally(old.Permissions.Owner, -1);
            _generation++;
        }
    }

    private void Tally(ushort owner, int delta)
    {
        int n = _owned.GetValueOrDefault(owner) + delta;
        if (n == 0)
            _owned.Remove(owner);
        else
            _owned[owner] = n;
    }
}

/// <summary>
/// A transaction's view: changes are kept aside, and the generation of every path it looks at
/// is remembered at first sight so that committing can tell whether anyone else changed it.
/// </summary>
internal sealed class XsTransactionStore(XenstoreTree tree) : IXsStore
{
    private readonly XenstoreTree _tree = tree;
    private readonly IXsStore _base = tree;
    private readonly Dictionary<string, XsNode?> _overlay = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _seen = new(StringComparer.Ordinal);
    private readonly Dictionary<ushort, int> _ownedDelta = [];

    public XsNode? Get(string path)
    {
        if (_overlay.TryGetValue(path, out XsNode? mine))
            return mine;
        XsNode? node = _base.Get(path);
        _seen.TryAdd(path, node?.Generation ?? 0);
        return node;
    }

    public void Put(string path, XsNode node)
    {
        if (Get(path) is { } old)
            Count(old.Permissions.Owner, -1);
        _overlay[path] = node;
        Count(node.Permissions.Owner, +1);
    }

    public void Remove(string path)
    {
        if (Get(path) is { } old)
            Count(old.Permissions.Owner, -1);
        _overlay[path] = null;
    }

    public int OwnedBy(ushort domid) => _base.OwnedBy(domid) + _ownedDelta.GetValueOrDefault(domid);

    private void Count(ushort owner, int delta) =>
        _ownedDelta[owner] = _ownedDelta.GetValueOrDefault(owner) + delta;

    /// <summary>Applies the changes, unless a path looked at has changed since: then false.</summary>
    public bool TryCommit()
    {
        foreach ((string path, ulong generation) in _seen)
            if (_tree.GenerationOf(path) != generation)
                return false;
        foreach ((string path, XsNode? node) in _overlay)
        {
            if (node is null)
                _base.Remove(path);
            else
                _tree.Put(path, node);
        }
        return true;
    }
}
