using Xenolith.Abi;
using Xenolith.Hypervisor.Pv.Emulation;
using Xunit;

namespace Xenolith.Tests.Pv.Emulation;

public sealed class PrivilegedInstructionTests
{
    private const ulong Text = 0xffff_ffff_8000_1000;

    private static FakeEmulatedCpu Run(out EmulationOutcome outcome, Action<FakeEmulatedCpu>? setup, params byte[] code)
    {
        var cpu = new FakeEmulatedCpu();
        setup?.Invoke(cpu);
        cpu.Code(cpu.Is64BitCode ? Text : 0x8000_1000, code);
        outcome = PrivilegedOpEmulator.EmulateGeneralProtection(cpu);
        return cpu;
    }

    [Fact]
    public void MovFromCr0_SeesTheVirtualTs()
    {
        var cpu = Run(out var outcome, c => c.State.FpuTaskSwitched = true, 0x0f, 0x20, 0xc0); // mov rax, cr0

        Assert.Equal(EmulationOutcome.Emulated, outcome);
        Assert.Equal(FakeEmulatedCpu.Cr0Base | FakeEmulatedCpu.Cr0Ts, cpu.Gprs[0]);
        Assert.Equal(Text + 3, cpu.Frame.Rip);
    }

    [Fact]
    public void MovFromCr2Cr3Cr4_ReadTheVirtualRegisters()
    {
        void Setup(FakeEmulatedCpu c)
        {
            c.State.Cr2 = 0xdead_b000;
            c.State.KernelBaseMfn = 0x1234;
            c.Cr4 = 0x6a0;
        }

        Assert.Equal(0xdead_b000UL, Run(out _, Setup, 0x0f, 0x20, 0xd6).Gprs[6]);    // mov rsi, cr2
        Assert.Equal(0x123_4000UL, Run(out _, Setup, 0x0f, 0x20, 0xdb).Gprs[3]);     // mov rbx, cr3
        Assert.Equal(0x6a0UL, Run(out _, Setup, 0x41, 0x0f, 0x20, 0xe7).Gprs[15]);   // mov r15, cr4
    }

    [Fact]
    public void MovFromCr_InCompatibilityMode_ZeroExtends()
    {
        var cpu = Run(out var outcome, c =>
        {
            c.Is64BitCode = false;
            c.State.KernelBaseMfn = 0x42;
            c.Gprs[0] = ulong.MaxValue;
        }, 0x0f, 0x20, 0xd8); // mov eax, cr3

        Assert.Equal(EmulationOutcome.Emulated, outcome);
        Assert.Equal(0x4_2000UL, cpu.Gprs[0]);
        Assert.Equal(0x8000_1003UL, cpu.Frame.Rip);
    }

    [Theory]
    [InlineData(new byte[] { 0x44, 0x0f, 0x20, 0xc0 })] // mov rax, cr8
    [InlineData(new byte[] { 0x44, 0x0f, 0x22, 0xc0 })] // mov cr8, rax
    public void Cr8_IsGeneralProtection(byte[] code)
    {
        Run(out var outcome, null, code);
        Assert.Equal(EmulationOutcome.GeneralProtection(0), outcome);
    }

    [Theory]
    [InlineData(new byte[] { 0x0f, 0x20, 0xc0 })] // mov rax, cr0
    [InlineData(new byte[] { 0x0f, 0x22, 0xd0 })] // mov cr2, rax
    [InlineData(new byte[] { 0x0f, 0x21, 0xf8 })] // mov rax, dr7
    [InlineData(new byte[] { 0x0f, 0x06 })]       // clts
    [InlineData(new byte[] { 0x0f, 0x09 })]       // wbinvd
    [InlineData(new byte[] { 0xf4 })]             // hlt
    public void KernelOnlyInstructions_FromUserMode_AreGeneralProtection(byte[] code)
    {
        var cpu = Run(out var outcome, c => c.InKernelMode = false, code);

        Assert.Equal(EmulationOutcome.GeneralProtection(0), outcome);
        Assert.Equal(Text, cpu.Frame.Rip);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MovToCr0_MayChangeOnlyTs(bool ts)
    {
        var cpu = Run(out var outcome, c =>
        {
            c.State.FpuTaskSwitched = !ts;
            c.Gprs[0] = FakeEmulatedCpu.Cr0Base | (ts ? FakeEmulatedCpu.Cr0Ts : 0);
        }, 0x0f, 0x22, 0xc0); // mov cr0, rax

        Assert.Equal(EmulationOutcome.Emulated, outcome);
        Assert.Equal(ts, cpu.State.FpuTaskSwitched);
        Assert.Equal(Text + 3, cpu.Frame.Rip);
    }

    [Fact]
    public void MovToCr0_ChangingAnotherBit_IsGeneralProtection()
    {
        var cpu = Run(out var outcome, c => c.Gprs[0] = FakeEmulatedCpu.Cr0Base & ~(1UL << 16), 0x0f, 0x22, 0xc0); // clears WP

        Assert.Equal(EmulationOutcome.GeneralProtection(0), outcome);
        Assert.Equal(0, cpu.FpuTaskSwitchCalls);
    }

    [Fact]
    public void MovToCr2_SetsTheVirtualCr2()
    {
        var cpu = Run(out var outcome, c => c.Gprs[3] = 0xffff_8000_dead_0000, 0x0f, 0x22, 0xd3); // mov cr2, rbx

        Assert.Equal(EmulationOutcome.Emulated, outcome);
        Assert.Equal(0xffff_8000_dead_0000UL, cpu.State.Cr2);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MovToCr3_LoadsTheKernelL4_OrFaultsWhenRefused(bool accept)
    {
        var cpu = Run(out var outcome, c =>
        {
            c.AcceptBasePointer = accept;
            c.Gprs[0] = 0x77_7000;
        }, 0x0f, 0x22, 0xd8); // mov cr3, rax

        Assert.Equal(accept ? EmulationOutcome.Emulated : EmulationOutcome.GeneralProtection(0), outcome);
        Assert.Equal(accept ? 0x777UL : (ulong?)null, cpu.LoadedBasePointer);
        Assert.Equal(accept ? Text + 3 : Text, cpu.Frame.Rip);
    }

    [Fact]
    public void MovToCr4_AcceptsOnlyTheCurrentValue()
    {
        Run(out var same, c => { c.Cr4 = 0x620; c.Gprs[0] = 0x620; }, 0x0f, 0x22, 0xe0);
        Run(out var different, c => { c.Cr4 = 0x620; c.Gprs[0] = 0x6a0; }, 0x0f, 0x22, 0xe0);

        Assert.Equal(EmulationOutcome.Emulated, same);
        Assert.Equal(EmulationOutcome.GeneralProtection(0), different);
    }

    [Fact]
    public void MovDebugRegisters_GoThroughTheVcpu()
    {
        var cpu = Run(out var outcome, c => c.Gprs[2] = 0x401, 0x0f, 0x23, 0xfa); // mov dr7, rdx
        Assert.Equal(EmulationOutcome.Emulated, outcome);
        Assert.Equal(0x401UL, cpu.DebugRegisters[7]);

        cpu = Run(out outcome, c => c.DebugRegisters[0] = 0xffff_ffff_8000_0000, 0x0f, 0x21, 0xc1); // mov rcx, dr0
        Assert.Equal(EmulationOutcome.Emulated, outcome);
        Assert.Equal(0xffff_ffff_8000_0000UL, cpu.Gprs[1]);
        Assert.Equal(Text + 3, cpu.Frame.Rip);
    }

    [Theory]
    [InlineData(-XenErrno.ENODEV, 6)]
    [InlineData(-XenErrno.EINVAL, 13)]
    [InlineData(-XenErrno.EPERM, 13)]
    public void MovDebugRegisters_Errors_MapToUdOrGp(long error, int vector)
    {
        Run(out var read, c => c.DebugRegisterResult = error, 0x0f, 0x21, 0xe0);  // mov rax, dr4
        Run(out var write, c => c.DebugRegisterResult = error, 0x0f, 0x23, 0xe0); // mov dr4, rax

        Assert.Equal(vector, read.Vector);
        Assert.Equal(EmulationResult.Fault, read.Result);
        Assert.Equal(vector, write.Vector);
    }

    [Fact]
    public void Clts_ClearsTheVirtualTs()
    {
        var cpu = Run(out var outcome, c => c.State.FpuTaskSwitched = true, 0x0f, 0x06);

        Assert.Equal(EmulationOutcome.Emulated, outcome);
        Assert.False(cpu.State.FpuTaskSwitched);
        Assert.Equal(Text + 2, cpu.Frame.Rip);
    }

    [Theory]
    [InlineData(new byte[] { 0x0f, 0x09 })]       // wbinvd
    [InlineData(new byte[] { 0x0f, 0x08 })]       // invd
    [InlineData(new byte[] { 0xf3, 0x0f, 0x09 })] // wbnoinvd
    public void CacheFlushes_AreIgnored(byte[] code)
    {
        var cpu = Run(out var outcome, null, code);

        Assert.Equal(EmulationOutcome.Emulated, outcome);
        Assert.Equal(Text + (ulong)code.Length, cpu.Frame.Rip);
    }

    [Fact]
    public void Hlt_HaltsPastTheInstruction()
    {
        var cpu = Run(out var outcome, null, 0xf4);

        Assert.Equal(EmulationOutcome.Halt, outcome);
        Assert.Equal(Text + 1, cpu.Frame.Rip);
    }

    [Theory]
    [InlineData(0, true, false, false)]  // IOPL 0: kernel (ring 1) is not allowed
    [InlineData(0, true, true, true)]    // ... unless architectural IOPL makes the kernel ring 0
    [InlineData(1, true, false, true)]   // IOPL 1: kernel allowed
    [InlineData(1, false, false, false)] // ... user not
    [InlineData(3, false, false, true)]  // IOPL 3: user allowed
    public void CliSti_FollowTheVirtualIopl(int iopl, bool kernel, bool architecturalIopl, bool allowed)
    {
        void Setup(FakeEmulatedCpu c)
        {
            c.State.Iopl = iopl;
            c.InKernelMode = kernel;
            c.ArchitecturalIopl = architecturalIopl;
        }

        var cli = Run(out var cliOutcome, Setup, 0xfa);
        var sti = Run(out var stiOutcome, c => { Setup(c); c.EventsMasked = true; }, 0xfb);

        if (allowed)
        {
            Assert.Equal(EmulationOutcome.Emulated, cliOutcome);
            Assert.True(cli.EventsMasked);
            Assert.Equal(EmulationOutcome.Emulated, stiOutcome);
            Assert.False(sti.EventsMasked);
            Assert.Equal(Text + 1, sti.Frame.Rip);
        }
        else
        {
            Assert.Equal(EmulationOutcome.GeneralProtection(0), cliOutcome);
            Assert.False(cli.EventsMasked);
            Assert.Equal(EmulationOutcome.GeneralProtection(0), stiOutcome);
            Assert.True(sti.EventsMasked);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x0f, 0x01, 0x10 })]       // lgdt [rax]
    [InlineData(new byte[] { 0x0f, 0x01, 0x18 })]       // lidt [rax]
    [InlineData(new byte[] { 0x0f, 0x00, 0xd8 })]       // ltr ax
    [InlineData(new byte[] { 0x0f, 0x01, 0x38 })]       // invlpg [rax]
    [InlineData(new byte[] { 0x0f, 0x01, 0xf8 })]       // swapgs
    [InlineData(new byte[] { 0x48, 0x0f, 0x07 })]       // sysretq
    [InlineData(new byte[] { 0x90 })]                   // nop
    public void EverythingElse_IsGeneralProtection(byte[] code)
    {
        var cpu = Run(out var outcome, c => c.Gprs[0] = Text, code);

        Assert.Equal(EmulationOutcome.GeneralProtection(0), outcome);
        Assert.Equal(Text, cpu.Frame.Rip);
    }

    [Fact]
    public void UnreadableRip_IsGeneralProtection()
    {
        var cpu = new FakeEmulatedCpu();
        cpu.Frame.Rip = 0x7000_0000;

        Assert.Equal(EmulationOutcome.GeneralProtection(0), PrivilegedOpEmulator.EmulateGeneralProtection(cpu));
    }

    [Fact]
    public void InstructionCutByAnUnmappedPage_IsGeneralProtection()
    {
        var cpu = new FakeEmulatedCpu();
        cpu.Code(Text + 4096 - 2, 0x0f, 0x20); // mov rax, cr0 without its modrm byte
        cpu.Gprs[0] = 5;

        Assert.Equal(EmulationOutcome.GeneralProtection(0), PrivilegedOpEmulator.EmulateGeneralProtection(cpu));
        Assert.Equal(5UL, cpu.Gprs[0]);
    }

    [Fact]
    public void InstructionAcrossTwoMappedPages_IsEmulated()
    {
        var cpu = new FakeEmulatedCpu();
        cpu.Code(Text + 4096 - 2, 0x0f, 0x20, 0xc0);

        Assert.Equal(EmulationOutcome.Emulated, PrivilegedOpEmulator.EmulateGeneralProtection(cpu));
        Assert.Equal(Text + 4096 + 1, cpu.Frame.Rip);
    }

    [Theory]
    [InlineData(new byte[] { 0xf0, 0x0f, 0x20, 0xc0 })] // lock mov rax, cr0
    [InlineData(new byte[] { 0xf0, 0xfa })]             // lock cli
    [InlineData(new byte[] { 0xf0, 0xec })]             // lock in al, dx
    public void LockPrefixed_AreInvalidOpcodes(byte[] code)
    {
        var cpu = Run(out var outcome, c => c.State.Iopl = 3, code);

        Assert.Equal(EmulationOutcome.InvalidOpcode, outcome);
        Assert.Equal(Text, cpu.Frame.Rip);
    }
}
