using Xenolith.Abi;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;
using Xunit;

namespace Xenolith.Tests.Integration;

public sealed class GuestBootTests
{
    [KvmFact]
    public async Task Hello_PrintsGreetingAndVersion_ThenPowersOff()
    {
        GuestRunner.Result result = await GuestRunner.BootAsync("hello");

        Assert.Equal("Hello from Xenolith guest!\nxen_version: 4.19\n", result.Console);
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
        Assert.Null(result.Exit.CrashReport);
    }

    [KvmFact]
    public async Task Crash_UnhandledPageFault_CrashesTheDomainWithADump()
    {
        GuestRunner.Result result = await GuestRunner.BootAsync("crash");

        Assert.Equal("crash: about to fault\n", result.Console);
        Assert.Equal(ShutdownReason.Crash, result.Exit.Reason);
        string report = Assert.IsType<string>(result.Exit.CrashReport);
        Assert.Contains("#PF (vector 14)", report);
        Assert.Matches(@"rip: ffffffff8000[0-9a-f]{4}", report);
        Assert.Contains("cr2: 0000000000001000", report);
        Assert.Contains("cs: e033", report);
    }

    [KvmTheory]
    [InlineData("poweroff", ShutdownReason.Poweroff)]
    [InlineData("reboot", ShutdownReason.Reboot)]
    [InlineData("suspend", ShutdownReason.Suspend)]
    [InlineData("crash", ShutdownReason.Crash)]
    [InlineData("watchdog", ShutdownReason.Watchdog)]
    [InlineData("soft_reset", ShutdownReason.SoftReset)]
    public async Task Shutdown_ReasonFromCommandLine_IsTheDomainsExitReason(string name, ShutdownReason expected)
    {
        GuestRunner.Result result = await GuestRunner.BootAsync("shutdown", $"reason={name}");

        Assert.Equal($"shutdown: reason={name}\n", result.Console);
        Assert.Equal(expected, result.Exit.Reason);
        Assert.Null(result.Exit.CrashReport);
    }

    [KvmFact]
    public async Task Hypercalls_EveryProbeSeesXensResult()
    {
        GuestRunner.Result result = await GuestRunner.BootAsync("hypercalls");

        string[] lines = result.Console.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain(lines, l => l.StartsWith("FAIL", StringComparison.Ordinal));
        Assert.True(lines.Count(l => l.StartsWith("ok ", StringComparison.Ordinal)) >= 40, result.Console);
        Assert.Contains("ok version.syscall", lines);
        Assert.Contains("ok console_io.bad_pointer", lines);
        Assert.Contains("hypercalls: 0 failures", lines);
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
    }

    [KvmTheory]
    [InlineData("floor")]
    [InlineData("page")]
    [InlineData("syscall")]
    [InlineData("usersyscall")]
    [InlineData("usersyscallgs")]
    [InlineData("exception")]
    public async Task Bench_RunsEachLoopToCompletion(string mode)
    {
        GuestRunner.Result result = await GuestRunner.BootAsync("bench", $"mode={mode} iters=50");

        Assert.Equal($"bench: begin {mode} 50\nbench: end {mode}\n", result.Console);
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
    }

    [KvmFact]
    public async Task ACrashingDomain_DoesNotDisturbItsNeighbour()
    {
        using var xen = new XenHypervisor(128UL << 20);
        Task<GuestRunner.Result> crash = GuestRunner.BootAsync(xen, "crash");
        Task<GuestRunner.Result> hypercalls = GuestRunner.BootAsync(xen, "hypercalls");

        GuestRunner.Result[] results = await Task.WhenAll(crash, hypercalls);

        Assert.Equal(ShutdownReason.Crash, results[0].Exit.Reason);
        Assert.Equal(ShutdownReason.Poweroff, results[1].Exit.Reason);
        Assert.Contains("hypercalls: 0 failures", results[1].Console);
    }

    [KvmFact]
    public async Task DestroyedDomains_ReturnEveryFrameToThePool()
    {
        using var xen = new XenHypervisor(64UL << 20);
        ulong before = xen.Memory.FreeFrames;

        await GuestRunner.BootAsync(xen, "hello");
        await GuestRunner.BootAsync(xen, "crash");

        Assert.Equal(before, xen.Memory.FreeFrames);
    }

    [KvmFact]
    public void BadImage_IsRefusedBeforeAnyDomainExists()
    {
        using var xen = new XenHypervisor(64UL << 20);
        ulong before = xen.Memory.FreeFrames;
        byte[] image = BuiltinGuests.Load("hello");
        image[4] = 1; // ELFCLASS32

        var error = Assert.Throws<KernelImageException>(() =>
            PvDomainBuilder.Build(xen, new PvBuildRequest("bad", image, "", 16)));

        Assert.Contains("ELF", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(before, xen.Memory.FreeFrames);
    }

    [KvmFact]
    public void OversizedCommandLine_IsRefusedAndTheDomainFreed()
    {
        using var xen = new XenHypervisor(64UL << 20);
        ulong before = xen.Memory.FreeFrames;

        var error = Assert.Throws<KernelImageException>(() =>
            PvDomainBuilder.Build(xen, new PvBuildRequest("long", BuiltinGuests.Load("hello"), new string('x', 1024), 16)));

        Assert.Contains("limit is 1023", error.Message);
        Assert.Equal(before, xen.Memory.FreeFrames);
    }
}
