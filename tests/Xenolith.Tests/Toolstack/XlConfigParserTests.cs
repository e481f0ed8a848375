using Xenolith.Domain0.Toolstack.Config;
using Xunit;

namespace Xenolith.Tests.Toolstack;

public sealed class XlConfigParserTests
{
    private const string File = "guest.cfg";

    [Fact]
    public void TypicalPvConfigParses()
    {
        const string Text = """
            # A PV guest
            name = "guest1"
            type = "pv"
            kernel = "/boot/vmlinuz-6.1"
            ramdisk = '/boot/initrd.img-6.1'
            cmdline = "console=hvc0 root=/dev/xvda1"
            memory = 512
            maxmem = 0x400
            vcpus = 2
            uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
            """;

        DomainConfig config = XlConfigParser.Parse(Text, File);

        Assert.Equal("guest1", config.Name);
        Assert.Equal("pv", config.Type);
        Assert.Equal("/boot/vmlinuz-6.1", config.Kernel);
        Assert.Equal("/boot/initrd.img-6.1", config.Ramdisk);
        Assert.Equal("console=hvc0 root=/dev/xvda1", config.CommandLine);
        Assert.Equal(512, config.MemoryMiB);
        Assert.Equal(1024, config.MaxMemoryMiB);
        Assert.Equal(2, config.Vcpus);
        Assert.Equal("3f2504e0-4f89-11d3-9a0c-0305e82c3301", config.Uuid);
        Assert.Empty(config.Unrecognised);
    }

    [Fact]
    public void DefaultsFollowXl()
    {
        DomainConfig config = XlConfigParser.Parse("name = \"g\"\nkernel = \"k\"\n", File);

        Assert.Equal(128, config.MemoryMiB);
        Assert.Equal(128, config.MaxMemoryMiB);
        Assert.Equal(1, config.Vcpus);
        Assert.Equal("pv", config.Type);
        Assert.Equal("", config.CommandLine);
        Assert.Null(config.Ramdisk);
        Assert.Null(config.Uuid);
    }

    [Fact]
    public void MaxMemDefaultsToMemory()
    {
        DomainConfig config = XlConfigParser.Parse("name='g'\nkernel='k'\nmemory=256", File);
        Assert.Equal(256, config.MaxMemoryMiB);
    }

    [Fact]
    public void RelativeKernelPathIsKeptAsWritten()
    {
        DomainConfig config = XlConfigParser.Parse("name='g'\nkernel='guests/vmlinuz'", File);
        Assert.Equal("guests/vmlinuz", config.Kernel);
    }

    [Fact]
    public void CommentsSemicolonsListsAndUnknownKeys()
    {
        const string Text = """
            name = "g" ; kernel = "k"   # two settings on one line
            # whole-line comment with "quotes" and [brackets
            disk = [ 'phy:/dev/vg/g,xvda,w',
                     "file:/srv/g.img,xvdb,r", # trailing comment inside a list
                   ]
            vif = []
            on_crash = "destroy";
            nested = [ [ 1, 2 ], [ ] ]
            """;

        DomainConfig config = XlConfigParser.Parse(Text, File);

        Assert.Equal("g", config.Name);
        Assert.Equal("k", config.Kernel);
        Assert.Equal(["disk", "vif", "on_crash", "nested"], config.Unrecognised.Keys);
        XlValue disk = config.Unrecognised["disk"];
        Assert.Equal(XlValueKind.List, disk.Kind);
        Assert.Equal(["phy:/dev/vg/g,xvda,w", "file:/srv/g.img,xvdb,r"], disk.Items.Select(i => i.Text));
        Assert.Equal(3, disk.Line);
        Assert.Empty(config.Unrecognised["vif"].Items);
        Assert.Equal("destroy", config.Unrecognised["on_crash"].Text);
        XlValue nested = config.Unrecognised["nested"];
        Assert.Equal(2, nested.Items.Count);
        Assert.Equal(XlValueKind.Number, nested.Items[0].Items[1].Kind);
        Assert.Equal("[ [ 1, 2 ], [  ] ]", nested.ToString());
    }

    [Fact]
    public void EscapesAreDecodedInBothQuoteStyles()
    {
        const string Text = """
            name = "g"
            kernel = "k"
            cmdline = "a\tb \"q\" \\ \x41\101 it's"
            note = 'say \'hi\'\n'
            """;

        DomainConfig config = XlConfigParser.Parse(Text, File);

        Assert.Equal("a\tb \"q\" \\ AA it's", config.CommandLine);
        Assert.Equal("say 'hi'\n", config.Unrecognised["note"].Text);
    }

    [Theory]
    [InlineData("root = \"/dev/xvda1\"\nextra = \"console=hvc0 quiet\"", "root=/dev/xvda1 console=hvc0 quiet")]
    [InlineData("root = \"/dev/xvda1\"", "root=/dev/xvda1")]
    [InlineData("extra = \"console=hvc0\"", "console=hvc0")]
    [InlineData("cmdline = \"ro\"\nroot = \"/dev/xvda1\"\nextra = \"quiet\"", "ro")]
    [InlineData("cmdline = \"\"\nextra = \"quiet\"", "")]
    [InlineData("", "")]
    public void CommandLineIsComposedAsXlDoes(string settings, string expected)
    {
        DomainConfig config = XlConfigParser.Parse($"name = \"g\"\nkernel = \"k\"\n{settings}\n", File);

        Assert.Equal(expected, config.CommandLine);
        Assert.False(config.Unrecognised.ContainsKey("root"));
        Assert.False(config.Unrecognised.ContainsKey("extra"));
    }

    [Fact]
    public void DuplicateKeyLastOneWins()
    {
        DomainConfig config = XlConfigParser.Parse("name='a'\nkernel='k'\nname='b'\nmemory=64\nmemory=96", File);

        Assert.Equal("b", config.Name);
        Assert.Equal(96, config.MemoryMiB);
    }

    [Fact]
    public void AppendOperatorConcatenatesStringsAndLists()
    {
        const string Text = "name='g'\nkernel='k'\nextra='console=hvc0'\nextra+=' quiet'\ndisk=['a']\ndisk+=['b','c']\nvif+=['x']";

        DomainConfig config = XlConfigParser.Parse(Text, File);

        Assert.Equal("console=hvc0 quiet", config.CommandLine);
        Assert.Equal(["a", "b", "c"], config.Unrecognised["disk"].Items.Select(i => i.Text));
        Assert.Equal(["x"], config.Unrecognised["vif"].Items.Select(i => i.Text));
    }

    [Fact]
    public void QuotedNumberIsAcceptedAsXlDoes()
    {
        DomainConfig config = XlConfigParser.Parse("name='g'\nkernel='k'\nmemory='2048'\nvcpus=\"4\"", File);

        Assert.Equal(2048, config.MemoryMiB);
        Assert.Equal(4, config.Vcpus);
    }

    [Fact]
    public void CrLfLineEndingsAreAccepted()
    {
        DomainConfig config = XlConfigParser.Parse("name = 'g'\r\nkernel = 'k'\r\nmemory = 64\r\n", File);
        Assert.Equal(64, config.MemoryMiB);
    }

    [Fact]
    public void LoadReadsFileAndReportsItsPath()
    {
        string directory = Path.Combine(Path.GetTempPath(), "xenolith-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string good = Path.Combine(directory, "good.cfg");
            System.IO.File.WriteAllText(good, "\uFEFFname = 'g'\nkernel = 'k'\n");
            Assert.Equal("g", XlConfigParser.Load(good).Name);

            string bad = Path.Combine(directory, "bad.cfg");
            System.IO.File.WriteAllText(bad, "name = 'g'\nkernel = 'k'\nmemory = lots\n");
            var error = Assert.Throws<ConfigException>(() => XlConfigParser.Load(bad));
            Assert.StartsWith($"{bad}:3: ", error.Message);

            var missing = Assert.Throws<ConfigException>(() => XlConfigParser.Load(Path.Combine(directory, "none.cfg")));
            Assert.Contains("cannot read config file", missing.Message);

            string binary = Path.Combine(directory, "binary.cfg");
            System.IO.File.WriteAllBytes(binary, [0x6e, 0x3d, 0xff, 0xfe]);
            Assert.Contains("not valid UTF-8", Assert.Throws<ConfigException>(() => XlConfigParser.Load(binary)).Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // ---- errors ---------------------------------------------------------------------------

    [Fact]
    public void MissingNameIsReported() =>
        AssertError("kernel = 'k'\nmemory = 64\n", "guest.cfg:2: required setting 'name' is missing");

    [Fact]
    public void MissingKernelIsReported() =>
        AssertError("name = 'g'\n", "guest.cfg:1: required setting 'kernel' is missing");

    [Fact]
    public void EmptyNameIsReported() =>
        AssertError("name = ''\nkernel = 'k'", "guest.cfg:1: 'name' must not be empty");

    [Theory]
    [InlineData("memory = lots", "guest.cfg:3: expected a value")]
    [InlineData("memory = 12ab", "guest.cfg:3: invalid number '12ab'")]
    [InlineData("memory = 0755", "guest.cfg:3: invalid number '0755': a leading 0 is ambiguous")]
    [InlineData("memory = 0x", "guest.cfg:3: invalid number '0x'")]
    [InlineData("memory = 99999999999999999999", "guest.cfg:3: invalid number")]
    [InlineData("memory = \"lots\"", "guest.cfg:3: 'memory' must be a number")]
    [InlineData("memory = [ 1 ]", "guest.cfg:3: 'memory' must be a number, not a list")]
    [InlineData("memory = 0", "guest.cfg:3: memory = 0 is out of range (1..1048576 MiB)")]
    [InlineData("memory = 1048577", "guest.cfg:3: memory = 1048577 is out of range")]
    [InlineData("vcpus = 129", "guest.cfg:3: vcpus = 129 is out of range (1..128 vCPUs)")]
    [InlineData("vcpus = 0", "guest.cfg:3: vcpus = 0 is out of range")]
    [InlineData("memory = 512\nmaxmem = 256", "guest.cfg:4: maxmem (256 MiB) must not be less than memory (512 MiB)")]
    [InlineData("kernel = [ 'a', 'b' ]", "guest.cfg:3: 'kernel' must be a single value, not a list")]
    [InlineData("uuid = 'not-a-uuid'", "guest.cfg:3: uuid \"not-a-uuid\" is not a UUID")]
    public void BadValuesAreReportedWithLine(string setting, string expected) =>
        AssertError($"name = 'g'\nkernel = 'k'\n{setting}\n", expected);

    [Theory]
    [InlineData("cmdline = \"console=hvc0\nmemory = 1", "guest.cfg:3: unterminated string: missing closing \"")]
    [InlineData("cmdline = 'abc", "guest.cfg:3: unterminated string: missing closing '")]
    [InlineData("cmdline = \"abc\\", "guest.cfg:3: unterminated string")]
    [InlineData("cmdline = \"\\q\"", "guest.cfg:3: unknown escape sequence '\\q'")]
    [InlineData("cmdline = \"\\xZ1\"", "guest.cfg:3: \\x needs two hexadecimal digits")]
    [InlineData("this is garbage", "guest.cfg:3: expected '=' after 'this', found 'is'")]
    [InlineData("= 5", "guest.cfg:3: expected a setting name, found '='")]
    [InlineData("memory 5", "guest.cfg:3: expected '=' after 'memory', found the number 5")]
    [InlineData("memory =", "guest.cfg:3: expected a value")]
    [InlineData("memory = 5 6", "guest.cfg:3: expected the end of the line after the value of 'memory', found the number 6")]
    [InlineData("disk = [ 'a' 'b' ]", "guest.cfg:3: expected ',' or ']' in list")]
    [InlineData("disk = [ 'a',\n\n", "guest.cfg:3: list opened here is not closed")]
    [InlineData("disk = [ , ]", "guest.cfg:3: expected a value")]
    [InlineData("name += [ 'x' ]", "guest.cfg:3: cannot append a list to 'name', which is a string")]
    [InlineData("def f(): pass", "guest.cfg:3: expected '=' after 'def'")]
    [InlineData("x = 1 +", "guest.cfg:3: unexpected character '+'")]
    [InlineData("x = 1\n\u0001", "guest.cfg:4: unexpected character U+0001")]
    [InlineData("9lives = 1", "guest.cfg:3: invalid number '9lives'")]
    public void SyntaxErrorsAreReportedWithLine(string setting, string expected) =>
        AssertError($"name = 'g'\nkernel = 'k'\n{setting}\n", expected);

    [Theory]
    [InlineData("type = \"hvm\"", "guest.cfg:3: type = \"hvm\" is not supported yet")]
    [InlineData("type = \"pvh\"", "guest.cfg:3: type = \"pvh\" is not supported yet")]
    [InlineData("builder = \"hvm\"", "guest.cfg:3: builder = \"hvm\" is not supported yet")]
    [InlineData("type = \"xen\"", "guest.cfg:3: unknown guest type type = \"xen\"")]
    public void UnsupportedTypeIsReported(string setting, string expected) =>
        AssertError($"name = 'g'\nkernel = 'k'\n{setting}\n", expected);

    [Fact]
    public void LegacyGenericBuilderMeansPv()
    {
        DomainConfig config = XlConfigParser.Parse("name='g'\nkernel='k'\nbuilder='generic'", File);
        Assert.Equal("pv", config.Type);
    }

    [Fact]
    public void OversizedTextIsRejected() =>
        AssertError(new string('#', XlConfigParser.MaxTextLength + 1), "guest.cfg:1: config file is larger than 1 MiB");

    [Fact]
    public void OversizedStringIsRejected() =>
        AssertError($"name = 'g'\nkernel = '{new string('k', XlConfigParser.MaxStringLength + 10)}'", "guest.cfg:2: string is longer than");

    [Fact]
    public void DeeplyNestedListIsRejected() =>
        AssertError($"name = 'g'\nkernel = 'k'\nx = {new string('[', 100)}{new string(']', 100)}", "guest.cfg:3: lists are nested more than");

    [Fact]
    public void RandomGarbageFailsCleanly()
    {
        var random = new Random(42);
        const string Alphabet = "ab_=+[],;#'\"\\\n x019";
        for (int iteration = 0; iteration < 3000; iteration++)
        {
            char[] chars = new char[random.Next(0, 60)];
            for (int i = 0; i < chars.Length; i++)
            {
                chars[i] = Alphabet[random.Next(Alphabet.Length)];
            }

            try
            {
                XlConfigParser.Parse(new string(chars), File);
            }
            catch (ConfigException e)
            {
                Assert.StartsWith("guest.cfg:", e.Message);
            }
        }
    }

    private static void AssertError(string text, string expected)
    {
        var error = Assert.Throws<ConfigException>(() => XlConfigParser.Parse(text, File));
        Assert.Contains(expected, error.Message);
        Assert.StartsWith("guest.cfg:", error.Message);
    }
}
