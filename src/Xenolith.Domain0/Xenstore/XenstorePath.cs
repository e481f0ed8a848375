using System.Globalization;

namespace Xenolith.Domain0.Xenstore;

/// <summary>Path syntax of docs/misc/xenstore.txt: validation, relative paths and ancestry.</summary>
public static class XenstorePath
{
    /// <summary>The base of a domain's relative paths: /local/domain/&lt;domid&gt;.</summary>
    public static string DomainPath(ushort domid) =>
        "/local/domain/" + domid.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Turns a client's path into an absolute one: relative paths are taken from the domain's
    /// base path. False if the path is empty, a special watch path (<c>@...</c>), too long, has
    /// doubled or trailing slashes, or has characters other than alphanumerics and <c>-/_@</c>.
    /// </summary>
    public static bool TryCanonicalize(string path, ushort domid, out string absolute)
    {
        absolute = "";
        // Special watch paths (@...) name no node.
        if (path.Length == 0 || path[0] == '@')
            return false;
        if (path[0] != '/')
        {
            if (path.Length > XsWire.RelPathMax)
                return false;
            path = DomainPath(domid) + "/" + path;
        }
        if (!IsValidAbsolute(path))
            return false;
        absolute = path;
        return true;
    }

    /// <summary>Whether <paramref name="path"/> is a valid absolute path.</summary>
    public static bool IsValidAbsolute(string path)
    {
        if (path.Length == 0 || path[0] != '/' || path.Length > XsWire.AbsPathMax)
            return false;
        if (path == "/")
            return true;
        if (path[^1] == '/')
            return false;
        char previous = '\0';
        foreach (char c in path)
        {
            bool ok = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9')
                or '-' or '/' or '_' or '@';
            if (!ok || (c == '/' && previous == '/'))
                return false;
            previous = c;
        }
        return true;
    }

    /// <summary>The parent of an absolute path other than the root.</summary>
    public static string Parent(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash <= 0 ? "/" : path[..slash];
    }

    /// <summary>The last component of an absolute path.</summary>
    public static string LeafName(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary>Joins a parent and a leaf name.</summary>
    public static string Child(string parent, string leaf) => parent == "/" ? "/" + leaf : parent + "/" + leaf;

    /// <summary>xenstore.txt's "child" relation: equal, or <paramref name="parent"/> is / or a prefix followed by /.</summary>
    public static bool IsChildOf(string child, string parent)
    {
        if (child == parent)
            return true;
        if (parent == "/")
            return child.Length > 0 && child[0] == '/';
        return child.Length > parent.Length && child.StartsWith(parent, StringComparison.Ordinal)
            && child[parent.Length] == '/';
    }
}
