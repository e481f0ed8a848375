using System.Globalization;

namespace Xenolith.Domain0.Xenstore;

/// <summary>A domain's access to a node: the letters n, r, w and b of a permission string.</summary>
[Flags]
public enum XsAccess
{
    None = 0,
    Read = 1,
    Write = 2,
    Both = Read | Write,
}

/// <summary>One entry of a node's ACL, written <c>r5</c>, <c>w0</c>, <c>b3</c> or <c>n7</c>.</summary>
public readonly record struct XsPermission(ushort DomId, XsAccess Access)
{
    public override string ToString() => Letter(Access) + DomId.ToString(CultureInfo.InvariantCulture);

    private static string Letter(XsAccess access) => access switch
    {
        XsAccess.Read => "r",
        XsAccess.Write => "w",
        XsAccess.Both => "b",
        _ => "n",
    };

    /// <summary>Parses one permission string; false for anything else.</summary>
    public static bool TryParse(string text, out XsPermission permission)
    {
        permission = default;
        if (text.Length < 2 || text.Length > 6)
            return false;
        XsAccess access;
        switch (text[0])
        {
            case 'r': access = XsAccess.Read; break;
            case 'w': access = XsAccess.Write; break;
            case 'b': access = XsAccess.Both; break;
            case 'n': access = XsAccess.None; break;
            default: return false;
        }
        if (!XsDomId.TryParse(text.AsSpan(1), out ushort domid))
            return false;
        permission = new XsPermission(domid, access);
        return true;
    }
}

/// <summary>
/// A node's ACL in Xen's model: the first entry names the owner and gives the default access of
/// every domain not listed; later entries give named domains their access. The owner and
/// privileged domains (Domain0) may do anything.
/// </summary>
public sealed class XsPermissions : IEquatable<XsPermissions>
{
    private readonly XsPermission[] _entries;

    public XsPermissions(IEnumerable<XsPermission> entries)
    {
        _entries = [.. entries];
        if (_entries.Length == 0)
            throw new ArgumentException("An ACL needs at least its owner entry.", nameof(entries));
    }

    public XsPermissions(params XsPermission[] entries) : this((IEnumerable<XsPermission>)entries) { }

    /// <summary>The ACL of the root node: owned by Domain0, no access for others.</summary>
    public static XsPermissions Root { get; } = new(new XsPermission(0, XsAccess.None));

    public ushort Owner => _entries[0].DomId;
    public IReadOnlyList<XsPermission> Entries => _entries;

    /// <summary>What <paramref name="domid"/> may do, given whom it targets (SET_TARGET), if anyone.</summary>
    public XsAccess AccessFor(ushort domid, ushort? target = null)
    {
        if (domid == 0 || domid == Owner || (target is { } t && t == Owner))
            return XsAccess.Both;
        for (int i = 1; i < _entries.Length; i++)
            if (_entries[i].DomId == domid)
                return _entries[i].Access;
        if (target is { } tt)
            for (int i = 1; i < _entries.Length; i++)
                if (_entries[i].DomId == tt)
                    return _entries[i].Access;
        return _entries[0].Access;
    }

    /// <summary>A copy owned by <paramref name="owner"/>, the rest unchanged.</summary>
    public XsPermissions WithOwner(ushort owner)
    {
        XsPermission[] copy = [.. _entries];
        copy[0] = copy[0] with { DomId = owner };
        return new XsPermissions(copy);
    }

    /// <summary>Parses SET_PERMS arguments; false if any is malformed or there are none.</summary>
    public static bool TryParse(IEnumerable<string> texts, out XsPermissions? permissions)
    {
        permissions = null;
        var list = new List<XsPermission>();
        foreach (string text in texts)
        {
            if (!XsPermission.TryParse(text, out XsPermission p))
                return false;
            list.Add(p);
        }
        if (list.Count == 0)
            return false;
        permissions = new XsPermissions(list);
        return true;
    }

    public IEnumerable<string> ToStrings() => _entries.Select(e => e.ToString());

    public override string ToString() => string.Join(",", ToStrings());

    public bool Equals(XsPermissions? other) => other is not null && _entries.AsSpan().SequenceEqual(other._entries);
    public override bool Equals(object? obj) => Equals(obj as XsPermissions);
    public override int GetHashCode() => _entries.Length == 0 ? 0 : HashCode.Combine(_entries.Length, _entries[0]);
}

/// <summary>Decimal domain ids as the protocol writes them.</summary>
public static class XsDomId
{
    /// <summary>DOMID_FIRST_RESERVED: ids from here on are special, not real domains.</summary>
    public const ushort FirstReserved = 0x7FF0;

    /// <summary>Parses 0..65535 in plain decimal (digits only, no sign or spaces).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out ushort domid)
    {
        domid = 0;
        if (text.Length is 0 or > 5)
            return false;
        foreach (char c in text)
            if (c is < '0' or > '9')
                return false;
        int value = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        if (value > ushort.MaxValue)
            return false;
        domid = (ushort)value;
        return true;
    }
}
