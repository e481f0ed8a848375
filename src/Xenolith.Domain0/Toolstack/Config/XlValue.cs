using System.Globalization;
using System.Text;

namespace Xenolith.Domain0.Toolstack.Config;

/// <summary>The kind of an <see cref="XlValue"/>.</summary>
public enum XlValueKind
{
    /// <summary>A quoted string.</summary>
    String,

    /// <summary>An unquoted number, kept as written.</summary>
    Number,

    /// <summary>A bracketed list of values.</summary>
    List,
}

/// <summary>
/// A value from an xl.cfg file: a string, a number (kept as written, as libxlu keeps it) or a list.
/// </summary>
public sealed class XlValue
{
    private XlValue(XlValueKind kind, string text, IReadOnlyList<XlValue> items, int line)
    {
        Kind = kind;
        Text = text;
        Items = items;
        Line = line;
    }

    /// <summary>What kind of value this is.</summary>
    public XlValueKind Kind { get; }

    /// <summary>The string (unescaped) or the number as written; empty for a list.</summary>
    public string Text { get; }

    /// <summary>The list elements; empty for a string or number.</summary>
    public IReadOnlyList<XlValue> Items { get; }

    /// <summary>The 1-based line the value starts on, or 0 when not from a file.</summary>
    public int Line { get; }

    /// <summary>Makes a string value.</summary>
    public static XlValue FromString(string text, int line = 0)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new XlValue(XlValueKind.String, text, [], line);
    }

    /// <summary>Makes a number value from its written form (decimal, or hexadecimal with 0x).</summary>
    public static XlValue FromNumber(string text, int line = 0)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new XlValue(XlValueKind.Number, text, [], line);
    }

    /// <summary>Makes a list value.</summary>
    public static XlValue FromList(IEnumerable<XlValue> items, int line = 0)
    {
        ArgumentNullException.ThrowIfNull(items);
        return new XlValue(XlValueKind.List, "", [.. items], line);
    }

    /// <summary>
    /// Reads a string or number as an integer: decimal, or hexadecimal with a 0x prefix. Like xl,
    /// a quoted string holding a number counts; a list never does.
    /// </summary>
    public bool TryGetInt64(out long value)
    {
        value = 0;
        return Kind != XlValueKind.List && TryParseInteger(Text, out value);
    }

    /// <summary>Parses decimal or 0x-hexadecimal text; a leading 0 before more digits is rejected as ambiguous (octal in C).</summary>
    internal static bool TryParseInteger(string text, out long value)
    {
        value = 0;
        if (text.Length > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        {
            ReadOnlySpan<char> digits = text.AsSpan(2);
            // AllowHexSpecifier alone admits only hex digits; a top bit set reads as negative and is refused.
            return long.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value)
                && value >= 0;
        }

        if (text.Length == 0 || (text.Length > 1 && text[0] == '0'))
        {
            return false;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>The value in xl.cfg syntax.</summary>
    public override string ToString()
    {
        switch (Kind)
        {
            case XlValueKind.Number:
                return Text;
            case XlValueKind.List:
                return "[ " + string.Join(", ", Items.Select(i => i.ToString())) + " ]";
            default:
                var builder = new StringBuilder("\"");
                foreach (char c in Text)
                {
                    builder.Append(c switch
                    {
                        '"' => "\\\"",
                        '\\' => "\\\\",
                        '\n' => "\\n",
                        '\t' => "\\t",
                        '\r' => "\\r",
                        < ' ' or '\x7f' => string.Create(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}"),
                        _ => c.ToString(),
                    });
                }

                return builder.Append('"').ToString();
        }
    }
}
