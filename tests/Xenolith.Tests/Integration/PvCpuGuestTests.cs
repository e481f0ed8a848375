using System.Text;
using Xenolith.Abi;
using Xenolith.Domain0.Builder;
using Xenolith.Domain0.Guests;
using Xenolith.Hypervisor;
using Xenolith.Kvm;
using Xunit;

namespace Xenolith.Tests.Integration;

/// <summary>
/// The paravirtualized CPU as a guest sees it: the pvcpu guest checks each behaviour from the inside
/// (trap bounces, iret, user mode, system calls, emulation, descriptor tables...) and reports
/// "ok NAME" or "FAIL NAME: detail"; hostile modes must crash only the guest that tries them.
/// </summary>
public sealed class PvCpuGuestTests
{
    /// <summary>Checks that must be reported ok: each names one behaviour from the issue.</summary>
    public static readonly TheoryData<string> RequiredChecks =
    [
        "trap_table.set", "trap_table.noncanonical", "trap_table.bad_pointer",
        "int3.kernel", "int3.mask_saved", "divide_error", "page_fault.kernel", "page_fault.write_ro",
        "gp.lidt", "gp.unknown_msr", "ud.plain", "nm.clts", "nm.taskswitch_clear",
        "cpuid.signature", "cpuid.version", "cpuid.hypercall_msr", "cpuid.hypervisor_bit",
        "msr.fs_base", "msr.gs_base", "msr.shadow_gs", "msr.efer", "msr.tsc", "cr.cr0", "cr.cr3", "cr.cr4",
        "segbase.fs", "segbase.gs_kernel", "segbase.gs_user", "segbase.noncanonical", "segbase.bad_which",
        "debugreg.set_get", "debugreg.hypervisor_addr", "debugreg.noncanonical", "debugreg.dr7_gd",
        "debugreg.dr7_high", "debugreg.bad_reg", "debugreg.dr6_default",
        "gdt.set", "gdt.dpl_raised", "gdt.too_many", "gdt.system_descriptor", "gdt.foreign_frame", "gdt.bad_pointer",
        "update_descriptor.ok", "update_descriptor.misaligned", "update_descriptor.system", "update_descriptor.pagetable",
        "iopl.cli_without", "iopl.set", "iopl.invalid", "iopl.in", "iopl.out", "mask_events.trap_flag",
        "callback.unregister_event", "callback.unregister_nmi", "callback.bad_type", "callback.noncanonical", "set_callbacks",
        "mmuext.user_baseptr", "mmuext.bad_baseptr",
        "user.enter", "user.syscall", "user.syscall_frame", "user.int80", "user.int81_gp", "user.page_fault",
        "user.cli_gp", "user.cpuid", "user.hypercall_eperm", "user.sysenter", "user.exit",
    ];

    private static GuestRunner.Result? s_all;

    /// <summary>
    /// PVM hosts run guest CPL3 code on the host's CR0, so a guest's CR0.TS cannot raise #NM there
    /// (measured): the guest is told, and then checks that TS is still kept virtually and no #NM comes.
    /// </summary>
    private static string NmMode => KvmSystem.IsPvmBackend ? "nm=untrapped" : "";

    private static async Task<GuestRunner.Result> RunAllAsync() => s_all ??= await GuestRunner.BootAsync("pvcpu", NmMode);

    [KvmFact]
    public async Task FpuTaskSwitch_DeliversNmWhereTheHostCpuCan()
    {
        GuestRunner.Result result = await RunAllAsync();

        Assert.Contains(KvmSystem.IsPvmBackend ? "ok nm.taskswitch_untrapped" : "ok nm.taskswitch", Lines(result.Console));
    }

    [KvmFact]
    public async Task PvCpu_ReportsNoFailure_AndPowersOff()
    {
        GuestRunner.Result result = await RunAllAsync();

        string[] lines = Lines(result.Console);
        Assert.DoesNotContain(lines, l => l.StartsWith("FAIL", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("pvcpu: ", StringComparison.Ordinal) && l.EndsWith(" passed, 0 failed", StringComparison.Ordinal));
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
        Assert.Null(result.Exit.CrashReport);
    }

    [KvmTheory]
    [MemberData(nameof(RequiredChecks))]
    public async Task PvCpu_Check(string name)
    {
        GuestRunner.Result result = await RunAllAsync();

        Assert.Contains($"ok {name}", Lines(result.Console));
    }

    [KvmFact]
    public async Task Failsafe_IretToAnUnloadableSegment_EntersTheFailsafeCallback()
    {
        GuestRunner.Result result = await GuestRunner.BootAsync("pvcpu", "test=failsafe");

        Assert.Contains("ok iret.failsafe", Lines(result.Console));
        Assert.Equal(ShutdownReason.Poweroff, result.Exit.Reason);
    }

    [KvmFact]
    public async Task Hlt_BlocksTheVcpu_UntilAnEventIsPending()
    {
        using var xen = new XenHypervisor(64UL << 20);
        (Domain domain, _) = PvDomainBuilder.Build(xen, new PvBuildRequest("hlt", BuiltinGuests.Load("pvcpu"), "test=hlt", 16));
        using (domain)
        {
            var console = new StringBuilder();
            domain.Console.Output += data => { lock (console) console.Append(Encoding.UTF8.GetString(data)); };
            domain.Start();
            Vcpu vcpu = domain.Vcpus[0];
            await WaitUntilAsync(() => vcpu.IsBlocked, "the vCPU to block in hlt");
            await Task.Delay(100);
            Assert.False(domain.Exited.IsCompleted);
            lock (console)
                Assert.Equal("pvcpu: hlt blocking\n", console.ToString());

            vcpu.MarkEventsPending();
            DomainExit exit = await domain.Exited.WaitAsync(GuestRunner.Timeout);

            Assert.Equal(ShutdownReason.Poweroff, exit.Reason);
            lock (console)
                Assert.Equal("pvcpu: hlt blocking\npvcpu: hlt woke\n", console.ToString());
        }
    }

    [KvmFact]
    public async Task PageFault_WritesCr2IntoVcpuInfo()
    {
        using var xen = new XenHypervisor(64UL << 20);
        (Domain domain, _) = PvDomainBuilder.Build(xen, new PvBuildRequest("crash", BuiltinGuests.Load("crash"), "", 16));
        using (domain)
        {
            domain.Start();
            await domain.Exited.WaitAsync(GuestRunner.Timeout);

            ulong cr2 = xen.Memory.Block.Read<ulong>((domain.SharedInfoMfn << 12) + SharedInfoLayout.ArchCr2);
            Assert.Equal(0x1000UL, cr2);
        }
    }

    [KvmTheory]
    [InlineData("handler_in_hypervisor", "lies inside the hypervisor's range")]
    [InlineData("noncanonical_stack", "fault writing the")]
    [InlineData("no_handler", "no handler registered")]
    [InlineData("bad_iret_cs", "iret to cs e00b")]
    [InlineData("iret_frame_unmapped", "fault writing the")]            // the iret entry's own push faults first
    [InlineData("iret_frame_unmapped_syscall", "iret_context at")]      // iret by syscall: the frame read fails
    [InlineData("user_without_baseptr", "no user page tables")]
    [InlineData("kernel_stack_unmapped", "fault writing the")]
    public async Task Attack_CrashesOnlyTheAttacker(string attack, string reportFragment)
    {
        using var xen = new XenHypervisor(128UL << 20);
        Task<GuestRunner.Result> attacker = GuestRunner.BootAsync(xen, "pvcpu", $"attack={attack}");
        Task<GuestRunner.Result> neighbour = GuestRunner.BootAsync(xen, "hypercalls");

        GuestRunner.Result[] results = await Task.WhenAll(attacker, neighbour);

        Assert.Equal(ShutdownReason.Crash, results[0].Exit.Reason);
        Assert.Contains($"pvcpu: attack {attack}", results[0].Console);
        Assert.DoesNotContain("attack survived", results[0].Console);
        Assert.Contains(reportFragment, results[0].Exit.CrashReport);
        Assert.Equal(ShutdownReason.Poweroff, results[1].Exit.Reason);
        Assert.Contains("hypercalls: 0 failures", results[1].Console);
    }

    private static string[] Lines(string console) => console.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + GuestRunner.Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(5);
        }
    }
}
