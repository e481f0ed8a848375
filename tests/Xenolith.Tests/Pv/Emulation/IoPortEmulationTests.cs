using Xenolith.Hypervisor.Pv.Emulation;
using Xunit;

namespace Xenolith.Tests.Pv.Emulation;

public sealed class IoPortEmulationTests
{
    private const ulong Text = 0xffff_ffff_8000_1000;
    private const ulong Buffer = 0xffff_8880_0010_0000;
    private const ulong RflagsDf = 1UL << 10;

    private static FakeEmulatedCpu Cpu(int iopl = 1, bool kernel = true)
    {
        var cpu = new FakeEmulatedCpu { InKernelMode = kernel };
        cpu.State.Iopl = iopl;
        return cpu;
    }

    private static EmulationOutcome Run(FakeEmulatedCpu cpu, params byte[] code)
    {
        cpu.Code(Text, code);
        return PrivilegedOpEmulator.EmulateGeneralProtection(cpu);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void InAlDx_ReadsAllOnes_AndKeepsTheUpperBits(bool permitted)
    {
        var cpu = Cpu();
        cpu.PortsPermitted = permitted; // no hardware behind permitted ports either
        cpu.Gprs[0] = 0x1122_3344_5566_7700;
        cpu.Gprs[2] = 0x3f8;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0xec));
        Assert.Equal(0x1122_3344_5566_77ffUL, cpu.Gprs[0]);
        Assert.Equal(Text + 1, cpu.Frame.Rip);
    }

    [Fact]
    public void InAxDx_KeepsTheUpperBits()
    {
        var cpu = Cpu();
        cpu.Gprs[0] = 0x1122_3344_5566_0000;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0x66, 0xed));
        Assert.Equal(0x1122_3344_5566_ffffUL, cpu.Gprs[0]);
        Assert.Equal(Text + 2, cpu.Frame.Rip);
    }

    [Fact]
    public void InEaxImm8_ZeroExtends()
    {
        var cpu = Cpu();
        cpu.Gprs[0] = 0x1122_3344_0000_0000;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0xe5, 0x71));
        Assert.Equal(0xffff_ffffUL, cpu.Gprs[0]);
        Assert.Equal(Text + 2, cpu.Frame.Rip);
    }

    [Theory]
    [InlineData(new byte[] { 0xee })]       // out dx, al
    [InlineData(new byte[] { 0xe7, 0x80 })] // out 0x80, eax
    [InlineData(new byte[] { 0x66, 0xef })] // out dx, ax
    public void Out_IsDropped(byte[] code)
    {
        var cpu = Cpu();
        cpu.Gprs[0] = 0x1234_5678;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, code));
        Assert.Equal(0x1234_5678UL, cpu.Gprs[0]);
        Assert.Equal(Text + (ulong)code.Length, cpu.Frame.Rip);
    }

    [Theory]
    [InlineData(0, true)]
    [InlineData(1, false)]
    [InlineData(2, false)]
    public void PortAccess_BelowTheVirtualIopl_IsGeneralProtection(int iopl, bool kernel)
    {
        var cpu = Cpu(iopl, kernel);
        cpu.PortsPermitted = true;
        cpu.Gprs[0] = 0x55;

        Assert.Equal(EmulationOutcome.GeneralProtection(0), Run(cpu, 0xec));
        Assert.Equal(0x55UL, cpu.Gprs[0]);
        Assert.Equal(EmulationOutcome.GeneralProtection(0), Run(cpu, 0xf3, 0x6c));
        Assert.Equal(Text, cpu.Frame.Rip);
    }

    [Fact]
    public void PortAccess_FromUserMode_WithIopl3_IsAllowed()
    {
        var cpu = Cpu(3, kernel: false);

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0xec));
        Assert.Equal(0xffUL, cpu.Gprs[0]);
    }

    [Fact]
    public void RepInsb_WritesAllOnes_AndAdvancesRdi()
    {
        var cpu = Cpu();
        cpu.Map(Buffer, 16);
        cpu.Gprs[7] = Buffer;
        cpu.Gprs[1] = 3;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0xf3, 0x6c));
        Assert.Equal(new byte[] { 0xff, 0xff, 0xff, 0x00 }, cpu.Peek(Buffer, 4));
        Assert.Equal(Buffer + 3, cpu.Gprs[7]);
        Assert.Equal(0UL, cpu.Gprs[1]);
        Assert.Equal(Text + 2, cpu.Frame.Rip);
    }

    [Fact]
    public void RepInsb_StopsAfter1024Iterations_AndLeavesRipForTheRest()
    {
        var cpu = Cpu();
        cpu.Map(Buffer, 5000);
        cpu.Gprs[7] = Buffer;
        cpu.Gprs[1] = 5000;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0xf3, 0x6c));
        Assert.Equal(3976UL, cpu.Gprs[1]);
        Assert.Equal(Buffer + 1024, cpu.Gprs[7]);
        Assert.Equal(Text, cpu.Frame.Rip);
        Assert.Equal(0xff, cpu.Peek(Buffer + 1023, 1)[0]);
        Assert.Equal(0x00, cpu.Peek(Buffer + 1024, 1)[0]);
    }

    [Fact]
    public void RepInsb_RepeatedFaults_FinishTheCount()
    {
        var cpu = Cpu();
        cpu.Map(Buffer, 5000);
        cpu.Gprs[7] = Buffer;
        cpu.Gprs[1] = 5000;
        cpu.Code(Text, 0xf3, 0x6c);

        int exits = 0;
        while (cpu.Frame.Rip == Text)
        {
            Assert.Equal(EmulationOutcome.Emulated, PrivilegedOpEmulator.EmulateGeneralProtection(cpu));
            exits++;
        }

        Assert.Equal(5, exits);
        Assert.Equal(0UL, cpu.Gprs[1]);
        Assert.Equal(Buffer + 5000, cpu.Gprs[7]);
    }

    [Fact]
    public void RepInsd_WithDf_Descends()
    {
        var cpu = Cpu();
        cpu.Map(Buffer, 16);
        cpu.Frame.Rflags |= RflagsDf;
        cpu.Gprs[7] = Buffer + 8;
        cpu.Gprs[1] = 2;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0xf3, 0x6d));
        Assert.Equal(Buffer, cpu.Gprs[7]);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 }, cpu.Peek(Buffer, 13));
    }

    [Fact]
    public void Insw_WithoutRep_DoesOneElement_AndLeavesRcx()
    {
        var cpu = Cpu();
        cpu.Map(Buffer, 16);
        cpu.Gprs[7] = Buffer;
        cpu.Gprs[1] = 7;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0x66, 0x6d));
        Assert.Equal(Buffer + 2, cpu.Gprs[7]);
        Assert.Equal(7UL, cpu.Gprs[1]);
        Assert.Equal(new byte[] { 0xff, 0xff, 0 }, cpu.Peek(Buffer, 3));
        Assert.Equal(Text + 2, cpu.Frame.Rip);
    }

    [Fact]
    public void RepIns_WithZeroCount_OnlyAdvancesRip()
    {
        var cpu = Cpu();
        cpu.Gprs[7] = Buffer; // unmapped: never touched
        cpu.Gprs[1] = 0;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0xf3, 0x6c));
        Assert.Equal(Buffer, cpu.Gprs[7]);
        Assert.Equal(Text + 2, cpu.Frame.Rip);
    }

    [Fact]
    public void RepIns_With32BitAddressSize_UsesEdiAndEcx()
    {
        var cpu = Cpu();
        cpu.Map(0x10_0000, 16);
        cpu.Gprs[7] = 0xffff_ffff_0010_0000; // upper half ignored, and cleared by the 32-bit update
        cpu.Gprs[1] = 0x1234_5678_0000_0002;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0x67, 0xf3, 0x6c));
        Assert.Equal(0x10_0002UL, cpu.Gprs[7]);
        Assert.Equal(0UL, cpu.Gprs[1]);
        Assert.Equal(Text + 3, cpu.Frame.Rip);
    }

    [Fact]
    public void RepIns_FaultingMidway_IsGeneralProtection_WithTheDoneIterationsVisible()
    {
        var cpu = Cpu();
        ulong end = Buffer + 4096;
        cpu.Map(Buffer, 4096);
        cpu.Gprs[7] = end - 2; // the third byte is on an unmapped page
        cpu.Gprs[1] = 4;

        Assert.Equal(EmulationOutcome.GeneralProtection(0), Run(cpu, 0xf3, 0x6c));
        Assert.Equal(end, cpu.Gprs[7]);
        Assert.Equal(2UL, cpu.Gprs[1]);
        Assert.Equal(Text, cpu.Frame.Rip);
    }

    [Fact]
    public void RepOutsb_ReadsTheSource_AndAdvancesRsi()
    {
        var cpu = Cpu();
        cpu.Map(Buffer, 16);
        cpu.Gprs[6] = Buffer;
        cpu.Gprs[1] = 10;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, 0xf3, 0x6e));
        Assert.Equal(Buffer + 10, cpu.Gprs[6]);
        Assert.Equal(0UL, cpu.Gprs[1]);
        Assert.Equal(Text + 2, cpu.Frame.Rip);
    }

    [Fact]
    public void Outs_WithAnUnreadableSource_IsGeneralProtection()
    {
        var cpu = Cpu();
        cpu.Gprs[6] = Buffer;

        Assert.Equal(EmulationOutcome.GeneralProtection(0), Run(cpu, 0x6e));
        Assert.Equal(Buffer, cpu.Gprs[6]);
    }

    [Theory]
    [InlineData(0x64, true)]  // fs
    [InlineData(0x65, true)]  // gs, kernel mode: the kernel GS base
    [InlineData(0x65, false)] // gs, user mode: the user GS base
    [InlineData(0x3e, true)]  // ds: flat
    public void Outs_HonoursFsAndGsBases(byte segmentPrefix, bool kernel)
    {
        var cpu = Cpu(3, kernel);
        cpu.FsBase = 0x1000_0000;
        cpu.GsBaseKernel = 0x2000_0000;
        cpu.GsBaseUser = 0x3000_0000;
        ulong expectedBase = segmentPrefix switch
        {
            0x64 => cpu.FsBase,
            0x65 => kernel ? cpu.GsBaseKernel : cpu.GsBaseUser,
            _ => 0,
        };
        cpu.Map(expectedBase + 0x40, 4);
        cpu.Gprs[6] = 0x40;

        Assert.Equal(EmulationOutcome.Emulated, Run(cpu, segmentPrefix, 0x6f)); // outsd
        Assert.Equal(0x44UL, cpu.Gprs[6]);
    }

    [Fact]
    public void InsInCompatibilityMode_WrapsTheAddressAndRip()
    {
        var cpu = new FakeEmulatedCpu { Is64BitCode = false, InKernelMode = false };
        cpu.State.Iopl = 3;
        cpu.Map(0x2000, 16);
        cpu.Gprs[7] = 0x2000;
        cpu.Gprs[1] = 1;
        cpu.Code(0xffff_fffe, 0xf3, 0x6c);

        Assert.Equal(EmulationOutcome.Emulated, PrivilegedOpEmulator.EmulateGeneralProtection(cpu));
        Assert.Equal(0xff, cpu.Peek(0x2000, 1)[0]);
        Assert.Equal(0x2001UL, cpu.Gprs[7]);
        Assert.Equal(0UL, cpu.Frame.Rip);
    }
}
