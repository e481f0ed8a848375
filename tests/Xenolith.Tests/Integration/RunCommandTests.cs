using Xenolith.Domain0.Toolstack;
using Xenolith.Domain0.Toolstack.Config;
using Xunit;

namespace Xenolith.Tests.Integration;

/// <summary>`xenolith run` as a user sees it: console on stdout, dump on stderr, the exit status.</summary>
public sealed class RunCommandTests
{
    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params RunTarget[] targets)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await new ForegroundRun(stdout, stderr).RunAsync(targets).WaitAsync(GuestRunner.Timeout);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [KvmFact]
    public async Task DefaultTarget_IsTheHelloGuest()
    {
        (int code, string stdout, string stderr) = await RunAsync(RunTarget.Resolve(null, null, null));

        Assert.Equal(ExitCodes.Poweroff, code);
        Assert.StartsWith("Hello from Xenolith guest!\n", stdout);
        Assert.Equal("", stderr);
    }

    [KvmFact]
    public async Task Crash_ExitsNonZero_WithTheDumpOnStderr()
    {
        (int code, _, string stderr) = await RunAsync(RunTarget.Resolve("crash", null, 16));

        Assert.Equal(ExitCodes.Crash, code);
        Assert.Contains("vector 14", stderr);
        Assert.Contains("rip: ", stderr);
    }

    [KvmTheory]
    [InlineData("poweroff", 0)]
    [InlineData("reboot", 2)]
    [InlineData("suspend", 3)]
    [InlineData("crash", 1)]
    [InlineData("watchdog", 4)]
    [InlineData("soft_reset", 5)]
    public async Task ShutdownReason_MapsToTheExitStatus(string reason, int expected)
    {
        (int code, _, _) = await RunAsync(RunTarget.Resolve("shutdown", $"reason={reason}", 16));

        Assert.Equal(expected, code);
    }

    [KvmFact]
    public async Task SeveralDomains_ArePrefixedByName_AndACrashWins()
    {
        (int code, string stdout, _) = await RunAsync(RunTarget.Resolve("hello", null, 16), RunTarget.Resolve("crash", null, 16));

        Assert.Equal(ExitCodes.Crash, code);
        Assert.Contains("[hello] Hello from Xenolith guest!\n", stdout);
        Assert.Contains("[crash] crash: about to fault\n", stdout);
    }

    [KvmFact]
    public async Task ConfigFile_BootsTheKernelItNames()
    {
        string dir = Directory.CreateTempSubdirectory("xenolith-test").FullName;
        try
        {
            string kernel = Path.Combine(dir, "shutdown.elf");
            await File.WriteAllBytesAsync(kernel, Domain0.Guests.BuiltinGuests.Load("shutdown"));
            string config = Path.Combine(dir, "guest.cfg");
            await File.WriteAllTextAsync(config, $"name = \"cfgguest\"\nmemory = 16\nkernel = \"{kernel}\"\ncmdline = \"reason=reboot\"\n");

            (int code, string stdout, _) = await RunAsync(RunTarget.Resolve(config, null, null));

            Assert.Equal(ExitCodes.Reboot, code);
            Assert.Equal("shutdown: reason=reboot\n", stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void UnknownTarget_IsAClearError()
    {
        var error = Assert.Throws<ConfigException>(() => RunTarget.Resolve("no-such-guest", null, null));
        Assert.Contains("no-such-guest", error.Message);
        Assert.Contains("hello", error.Message);
    }
}
