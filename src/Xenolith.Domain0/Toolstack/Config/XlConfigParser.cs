using System.Globalization;
using System.Text;

namespace Xenolith.Domain0.Toolstack.Config;

/// <summary>
/// Reads the subset of xl.cfg(5) Xenolith understands, with the syntax of Xen's libxlu
/// (libxlu_cfg_l.l / libxlu_cfg_y.y): <c>KEY = VALUE</c> or <c>KEY += VALUE</c> settings ended by a
/// newline or ';', '#' comments, and values that are quoted strings, numbers or [lists].
/// </summary>
/// <remarks>
/// As in libxlu: both quote styles take C escapes, a repeated key keeps its last value, lists may
/// span lines and end with a comma, and <c>+=</c> appends to a string or list set earlier.
/// Unlike libxlu, a number with a leading zero ("0755") is refused instead of read as octal, and
/// an unknown escape is an error instead of being dropped.
/// </remarks>
public static class XlConfigParser
{
    /// <summary>Largest configuration file accepted, in characters.</summary>
    public const int MaxTextLength = 1024 * 1024;

    /// <summary>Longest string value accepted, in characters.</summary>
    public const int MaxStringLength = 64 * 1024;

    private const int MaxListDepth = 16;
    private const int MaxValues = 65536;
    private const int MaxMemoryMiB = 1024 * 1024;
    private const int MaxVcpus = 128;

    /// <summary>Reads and parses a configuration file.</summary>
    /// <exception cref="ConfigException">The file cannot be read, or its contents are invalid.</exception>
    public static DomainConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxTextLength * 4L)
            {
                throw new ConfigException($"{path}:1: config file is larger than {MaxTextLength / 1024 / 1024} MiB");
            }

            byte[] bytes = File.ReadAllBytes(path);
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new ConfigException($"{path}:1: config file is not valid UTF-8 text");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ConfigException($"{path}: cannot read config file: {e.Message}");
        }

        // A UTF-8 byte order mark is not part of the syntax.
        if (text.StartsWith('\uFEFF'))
        {
            text = text[1..];
        }

        return Parse(text, path);
    }

    /// <summary>Parses configuration text; <paramref name="fileName"/> is used only in messages.</summary>
    /// <exception cref="ConfigException">The text is not valid xl.cfg syntax or a setting is invalid.</exception>
    public static DomainConfig Parse(string text, string fileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileName);
        if (text.Length > MaxTextLength)
        {
            throw new ConfigException($"{fileName}:1: config file is larger than {MaxTextLength / 1024 / 1024} MiB");
        }

        var parser = new Parser(text, fileName);
        Dictionary<string, Setting> settings = parser.ParseFile();
        return Build(settings, fileName, parser.LastLine);
    }

    private static DomainConfig Build(Dictionary<string, Setting> settings, string fileName, int lastLine)
    {
        var reader = new SettingReader(settings, fileName, lastLine);

        string name = reader.RequiredString("name", "name = \"my-guest\"");
        string type = ReadType(reader, settings, fileName);
        string kernel = reader.RequiredString("kernel", "kernel = \"/boot/vmlinuz\"");
        string? ramdisk = reader.OptionalString("ramdisk");

        string? cmdline = reader.OptionalString("cmdline", allowEmpty: true);
        string? root = reader.OptionalString("root", allowEmpty: true);
        string? extra = reader.OptionalString("extra", allowEmpty: true);
        string commandLine = cmdline
            ?? (root, extra) switch
            {
                (not null, not null) => $"root={root} {extra}",
                (not null, null) => $"root={root}",
                (null, not null) => extra,
                _ => "",
            };

        int memory = reader.OptionalInt("memory", 1, MaxMemoryMiB, "MiB") ?? 128;
        int maxMemory = reader.OptionalInt("maxmem", 1, MaxMemoryMiB, "MiB") ?? memory;
        if (maxMemory < memory)
        {
            throw new ConfigException(
                $"{fileName}:{settings["maxmem"].Line}: maxmem ({maxMemory} MiB) must not be less than memory ({memory} MiB)");
        }

        int vcpus = reader.OptionalInt("vcpus", 1, MaxVcpus, "vCPUs") ?? 1;

        string? uuid = reader.OptionalString("uuid");
        if (uuid is not null && !Guid.TryParseExact(uuid, "D", out _))
        {
            throw new ConfigException(
                $"{fileName}:{settings["uuid"].Line}: uuid \"{Printable(uuid)}\" is not a UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
        }

        Dictionary<string, XlValue> unrecognised = [];
        foreach ((string key, Setting setting) in settings)
        {
            if (!reader.Consumed.Contains(key))
            {
                unrecognised[key] = setting.Value;
            }
        }

        return new DomainConfig
        {
            Name = name,
            Kernel = kernel,
            Ramdisk = ramdisk,
            CommandLine = commandLine,
            MemoryMiB = memory,
            MaxMemoryMiB = maxMemory,
            Vcpus = vcpus,
            Type = type,
            Uuid = uuid,
            Unrecognised = unrecognised.AsReadOnly(),
        };
    }

    private static string ReadType(SettingReader reader, Dictionary<string, Setting> settings, string fileName)
    {
        // `type` is current xl; `builder` is its older spelling ("generic" meaning PV).
        string? type = reader.OptionalString("type");
        string? builder = reader.OptionalString("builder");
        string key = type is not null ? "type" : "builder";
        string value = type ?? builder switch
        {
            null or "generic" => "pv",
            _ => builder,
        };

        switch (value)
        {
            case "pv":
                return value;
            case "pvh" or "hvm":
                throw new ConfigException(
                    $"{fileName}:{settings[key].Line}: {key} = \"{value}\" is not supported yet; only PV guests (type = \"pv\") can be created");
            default:
                throw new ConfigException(
                    $"{fileName}:{settings[key].Line}: unknown guest type {key} = \"{Printable(value)}\" (expected \"pv\", \"pvh\" or \"hvm\")");
        }
    }

    /// <summary>Makes user-supplied text safe to echo in a one-line message.</summary>
    internal static string Printable(string text)
    {
        const int Limit = 80;
        var builder = new StringBuilder();
        foreach (char c in text)
        {
            if (builder.Length >= Limit)
            {
                return builder.Append("...").ToString();
            }

            builder.Append(char.IsControl(c) ? '?' : c);
        }

        return builder.ToString();
    }

    private readonly record struct Setting(XlValue Value, int Line);

    /// <summary>Typed access to settings, remembering which keys were used.</summary>
    private sealed class SettingReader(Dictionary<string, Setting> settings, string fileName, int lastLine)
    {
        public HashSet<string> Consumed { get; } = [];

        public string RequiredString(string key, string example) =>
            OptionalString(key)
            ?? throw new ConfigException(
                $"{fileName}:{lastLine}: required setting '{key}' is missing (add a line such as: {example})");

        public string? OptionalString(string key, bool allowEmpty = false)
        {
            if (!TryGet(key, out Setting setting))
            {
                return null;
            }

            XlValue value = setting.Value;
            if (value.Kind == XlValueKind.List)
            {
                throw new ConfigException($"{fileName}:{setting.Line}: '{key}' must be a single value, not a list");
            }

            if (!allowEmpty && value.Text.Length == 0)
            {
                throw new ConfigException($"{fileName}:{setting.Line}: '{key}' must not be empty");
            }

            return value.Text;
        }

        public int? OptionalInt(string key, int minimum, int maximum, string unit)
        {
            if (!TryGet(key, out Setting setting))
            {
                return null;
            }

            XlValue value = setting.Value;
            if (value.Kind == XlValueKind.List)
            {
                throw new ConfigException($"{fileName}:{setting.Line}: '{key}' must be a number, not a list");
            }

            if (!value.TryGetInt64(out long number))
            {
                throw new ConfigException(
                    $"{fileName}:{setting.Line}: '{key}' must be a number (decimal, or hexadecimal with 0x), not {Printable(value.ToString())}");
            }

            if (number < minimum || number > maximum)
            {
                throw new ConfigException(
                    $"{fileName}:{setting.Line}: {key} = {number.ToString(CultureInfo.InvariantCulture)} is out of range ({minimum}..{maximum} {unit})");
            }

            return (int)number;
        }

        private bool TryGet(string key, out Setting setting)
        {
            Consumed.Add(key);
            return settings.TryGetValue(key, out setting);
        }
    }

    private enum TokenKind
    {
        Identifier,
        String,
        Number,
        Assign,
        Append,
        OpenBracket,
        CloseBracket,
        Comma,
        Semicolon,
        Newline,
        End,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Line);

    /// <summary>A recursive-descent parser over a hand-written lexer for the libxlu grammar.</summary>
    private sealed class Parser(string text, string fileName)
    {
        private readonly Dictionary<string, Setting> _settings = new(StringComparer.Ordinal);
        private int _position;
        private int _line = 1;
        private int _values;
        private Token _current;

        /// <summary>The last line of the text, where messages about missing settings point.</summary>
        public int LastLine => Math.Max(1, text.EndsWith('\n') ? _line - 1 : _line);

        public Dictionary<string, Setting> ParseFile()
        {
            Advance();
            while (_current.Kind != TokenKind.End)
            {
                if (_current.Kind is TokenKind.Newline or TokenKind.Semicolon)
                {
                    Advance();
                    continue;
                }

                if (_current.Kind != TokenKind.Identifier)
                {
                    throw Error(_current, $"expected a setting name, found {Describe(_current)}");
                }

                Token key = _current;
                Advance();
                bool append = _current.Kind == TokenKind.Append;
                if (_current.Kind is not (TokenKind.Assign or TokenKind.Append))
                {
                    throw Error(_current, $"expected '=' after '{key.Text}', found {Describe(_current)}");
                }

                Advance();
                XlValue value = ParseValue(depth: 0);
                if (_current.Kind is not (TokenKind.Newline or TokenKind.Semicolon or TokenKind.End))
                {
                    throw Error(_current, $"expected the end of the line after the value of '{key.Text}', found {Describe(_current)}");
                }

                Store(key, value, append);
            }

            return _settings;
        }

        private void Store(Token key, XlValue value, bool append)
        {
            if (append && _settings.TryGetValue(key.Text, out Setting previous))
            {
                XlValue old = previous.Value;
                value = (old.Kind, value.Kind) switch
                {
                    (XlValueKind.List, XlValueKind.List) => XlValue.FromList([.. old.Items, .. value.Items], old.Line),
                    (not XlValueKind.List, not XlValueKind.List) => Concatenate(key, old, value),
                    _ => throw Error(key, $"cannot append a {Kind(value)} to '{key.Text}', which is a {Kind(old)}"),
                };
            }

            // Last one wins, as in libxlu.
            _settings[key.Text] = new Setting(value, key.Line);
        }

        private XlValue Concatenate(Token key, XlValue first, XlValue second)
        {
            string joined = first.Text + second.Text;
            if (joined.Length > MaxStringLength)
            {
                throw Error(key, $"value of '{key.Text}' is longer than {MaxStringLength} characters");
            }

            return XlValue.FromString(joined, first.Line);
        }

        private XlValue ParseValue(int depth)
        {
            if (++_values > MaxValues)
            {
                throw Error(_current, $"too many values (more than {MaxValues})");
            }

            Token start = _current;
            switch (start.Kind)
            {
                case TokenKind.String:
                    Advance();
                    return XlValue.FromString(start.Text, start.Line);
                case TokenKind.Number:
                    Advance();
                    return XlValue.FromNumber(start.Text, start.Line);
                case TokenKind.OpenBracket:
                    if (depth >= MaxListDepth)
                    {
                        throw Error(start, $"lists are nested more than {MaxListDepth} deep");
                    }

                    Advance();
                    return ParseListTail(start, depth + 1);
                default:
                    throw Error(start, $"expected a value (a \"string\", a number or a [list]), found {Describe(start)}");
            }
        }

        private XlValue ParseListTail(Token open, int depth)
        {
            var items = new List<XlValue>();
            SkipNewlines();
            while (_current.Kind != TokenKind.CloseBracket)
            {
                if (_current.Kind == TokenKind.End)
                {
                    throw Error(open, "list opened here is not closed with ']'");
                }

                items.Add(ParseValue(depth));
                SkipNewlines();
                if (_current.Kind == TokenKind.Comma)
                {
                    Advance();
                    SkipNewlines();
                }
                else if (_current.Kind != TokenKind.CloseBracket)
                {
                    if (_current.Kind == TokenKind.End)
                    {
                        throw Error(open, "list opened here is not closed with ']'");
                    }

                    throw Error(_current, $"expected ',' or ']' in list, found {Describe(_current)}");
                }
            }

            Advance();
            return XlValue.FromList(items, open.Line);
        }

        private void SkipNewlines()
        {
            while (_current.Kind == TokenKind.Newline)
            {
                Advance();
            }
        }

        private void Advance() => _current = Lex();

        private Token Lex()
        {
            while (_position < text.Length)
            {
                char c = text[_position];
                if (c is ' ' or '\t' or '\r')
                {
                    _position++;
                }
                else if (c == '#')
                {
                    // The comment runs to the end of the line; the newline itself is still a token.
                    while (_position < text.Length && text[_position] != '\n')
                    {
                        _position++;
                    }
                }
                else
                {
                    break;
                }
            }

            if (_position >= text.Length)
            {
                return new Token(TokenKind.End, "", _line);
            }

            int line = _line;
            char first = text[_position];
            switch (first)
            {
                case '\n':
                    _position++;
                    _line++;
                    return new Token(TokenKind.Newline, "\n", line);
                case '=':
                    _position++;
                    return new Token(TokenKind.Assign, "=", line);
                case '+' when _position + 1 < text.Length && text[_position + 1] == '=':
                    _position += 2;
                    return new Token(TokenKind.Append, "+=", line);
                case '[':
                    _position++;
                    return new Token(TokenKind.OpenBracket, "[", line);
                case ']':
                    _position++;
                    return new Token(TokenKind.CloseBracket, "]", line);
                case ',':
                    _position++;
                    return new Token(TokenKind.Comma, ",", line);
                case ';':
                    _position++;
                    return new Token(TokenKind.Semicolon, ";", line);
                case '"' or '\'':
                    return LexString(first, line);
            }

            if (char.IsAsciiLetter(first) || first == '_')
            {
                int start = _position;
                while (_position < text.Length && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] == '_'))
                {
                    _position++;
                }

                return new Token(TokenKind.Identifier, text[start.._position], line);
            }

            if (char.IsAsciiDigit(first))
            {
                int start = _position;
                while (_position < text.Length && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] is '_' or '.'))
                {
                    _position++;
                }

                string number = text[start.._position];
                if (!XlValue.TryParseInteger(number, out _))
                {
                    string why = number.Length > 1 && number[0] == '0' && char.IsAsciiDigit(number[1])
                        ? "a leading 0 is ambiguous (xl would read it as octal)"
                        : "numbers are decimal, or hexadecimal with 0x";
                    throw Error(line, $"invalid number '{Printable(number)}': {why}");
                }

                return new Token(TokenKind.Number, number, line);
            }

            throw Error(line, $"unexpected character {DescribeChar(first)}");
        }

        private Token LexString(char quote, int line)
        {
            var builder = new StringBuilder();
            _position++; // opening quote
            while (true)
            {
                if (_position >= text.Length || text[_position] == '\n')
                {
                    throw Error(line, $"unterminated string: missing closing {quote}");
                }

                if (builder.Length > MaxStringLength)
                {
                    throw Error(line, $"string is longer than {MaxStringLength} characters");
                }

                char c = text[_position++];
                if (c == quote)
                {
                    return new Token(TokenKind.String, builder.ToString(), line);
                }

                if (c != '\\')
                {
                    builder.Append(c);
                    continue;
                }

                if (_position >= text.Length || text[_position] == '\n')
                {
                    throw Error(line, $"unterminated string: missing closing {quote}");
                }

                char escape = text[_position++];
                switch (escape)
                {
                    case '"' or '\'' or '\\': builder.Append(escape); break;
                    case 'a': builder.Append('\a'); break;
                    case 'b': builder.Append('\b'); break;
                    case 'f': builder.Append('\f'); break;
                    case 'n': builder.Append('\n'); break;
                    case 'r': builder.Append('\r'); break;
                    case 't': builder.Append('\t'); break;
                    case 'v': builder.Append('\v'); break;
                    case 'x':
                        builder.Append((char)ReadDigits(line, 16, 2, 2, "\\x needs two hexadecimal digits"));
                        break;
                    case >= '0' and <= '7':
                        _position--;
                        builder.Append((char)ReadDigits(line, 8, 1, 3, "invalid octal escape"));
                        break;
                    default:
                        throw Error(line, $"unknown escape sequence '\\{Printable(escape.ToString())}' in string");
                }
            }
        }

        private int ReadDigits(int line, int radix, int minimum, int maximum, string problem)
        {
            int value = 0;
            int count = 0;
            while (count < maximum && _position < text.Length)
            {
                int digit = HexValue(text[_position]);
                if (digit < 0 || digit >= radix)
                {
                    break;
                }

                value = (value * radix) + digit;
                count++;
                _position++;
            }

            if (count < minimum || value > 0xff)
            {
                throw Error(line, $"{problem} in string");
            }

            return value;
        }

        private static int HexValue(char c) => c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };

        private static string Kind(XlValue value) => value.Kind switch
        {
            XlValueKind.List => "list",
            XlValueKind.Number => "number",
            _ => "string",
        };

        private static string Describe(Token token) => token.Kind switch
        {
            TokenKind.End => "the end of the file",
            TokenKind.Newline => "the end of the line",
            TokenKind.String => $"the string \"{Printable(token.Text)}\"",
            TokenKind.Number => $"the number {token.Text}",
            TokenKind.Identifier => $"'{token.Text}'",
            _ => $"'{token.Text}'",
        };

        private static string DescribeChar(char c) =>
            char.IsControl(c) || char.IsWhiteSpace(c)
                ? string.Create(CultureInfo.InvariantCulture, $"U+{(int)c:X4}")
                : $"'{c}'";

        private ConfigException Error(Token token, string message) => Error(token.Line, message);

        private ConfigException Error(int line, string message) => new($"{fileName}:{line}: {message}");
    }
}
