using Xenolith.Abi;
using Xenolith.Hypervisor.Pv.Emulation;
using Xunit;

namespace Xenolith.Tests.Pv.Emulation;

public sealed class MsrEmulationTests
{
    private const ulong Text = 0xffff_ffff_8000_1000;
    private static readonly byte[] Rdmsr = [0x0f, 0x32];
    private static readonly byte[] Wrmsr = [0x0f, 0x30];

    private static EmulationOutcome Read(FakeEmulatedCpu cpu, uint msr)
    {
        cpu.Code(Text, Rdmsr);
        cpu.Gprs[1] = 0xffff_ffff_0000_0000 | msr; // only ecx names the MSR
        cpu.Gprs[0] = cpu.Gprs[2] = ulong.MaxValue;
        return PrivilegedOpEmulator.EmulateGeneralProtection(cpu);
    }

    private static EmulationOutcome Write(FakeEmulatedCpu cpu, uint msr, ulong value)
    {
        cpu.Code(Text, Wrmsr);
        cpu.Gprs[1] = msr;
        cpu.Gprs[0] = 0xaaaa_aaaa_0000_0000 | (uint)value; // upper halves of rax/rdx are ignored
        cpu.Gprs[2] = 0x5555_5555_0000_0000 | (value >> 32);
        return PrivilegedOpEmulator.EmulateGeneralProtection(cpu);
    }

    private static ulong EdxEax(FakeEmulatedCpu cpu) => (cpu.Gprs[2] << 32) | cpu.Gprs[0];

    [Theory]
    [InlineData(MsrPolicy.FsBase)]
    [InlineData(MsrPolicy.GsBase)]
    [InlineData(MsrPolicy.ShadowGsBase)]
    public void SegmentBases_RoundTrip(uint msr)
    {
        var cpu = new FakeEmulatedCpu();
        const ulong value = 0xffff_8880_1234_5000;

        Assert.Equal(EmulationOutcome.Emulated, Write(cpu, msr, value));
        Assert.Equal(Text + 2, cpu.Frame.Rip);
        Assert.Equal(value, msr switch
        {
            MsrPolicy.FsBase => cpu.FsBase,
            MsrPolicy.GsBase => cpu.GsBaseKernel,
            _ => cpu.GsBaseUser,
        });

        Assert.Equal(EmulationOutcome.Emulated, Read(cpu, msr));
        Assert.Equal(0xffff_8880UL, cpu.Gprs[2]);
        Assert.Equal(0x1234_5000UL, cpu.Gprs[0]); // zero-extended
        Assert.Equal(value, EdxEax(cpu));
    }

    [Theory]
    [InlineData(MsrPolicy.FsBase)]
    [InlineData(MsrPolicy.GsBase)]
    [InlineData(MsrPolicy.ShadowGsBase)]
    public void SegmentBases_RefuseNonCanonicalValues(uint msr)
    {
        var cpu = new FakeEmulatedCpu { FsBase = 7, GsBaseKernel = 7, GsBaseUser = 7 };

        Assert.Equal(EmulationOutcome.GeneralProtection(0), Write(cpu, msr, 0x0000_8000_0000_0000));
        Assert.Equal(Text, cpu.Frame.Rip);
        Assert.Equal(7UL, cpu.FsBase);
        Assert.Equal(7UL, cpu.GsBaseKernel);
        Assert.Equal(7UL, cpu.GsBaseUser);
    }

    [Theory]
    [InlineData(0xc000_0081u)] // STAR
    [InlineData(0xc000_0082u)] // LSTAR
    [InlineData(0xc000_0083u)] // CSTAR
    [InlineData(0xc000_0084u)] // SFMASK
    [InlineData(0x174u)]       // SYSENTER_CS
    [InlineData(0x176u)]       // SYSENTER_EIP
    [InlineData(0x1234u)]      // no such MSR
    [InlineData(0x8bu)]        // UCODE_REV: Xen answers it, this policy does not
    [InlineData(0x4000_0001u)] // beyond the hypercall-page MSR
    public void OtherMsrs_AreGeneralProtection(uint msr)
    {
        var cpu = new FakeEmulatedCpu();

        Assert.Equal(EmulationOutcome.GeneralProtection(0), Read(cpu, msr));
        Assert.Equal(EmulationOutcome.GeneralProtection(0), Write(cpu, msr, 0));
        Assert.Equal(Text, cpu.Frame.Rip);
    }

    [Fact]
    public void RdmsrAndWrmsr_FromUserMode_AreGeneralProtection()
    {
        var cpu = new FakeEmulatedCpu { InKernelMode = false, FsBase = 9 };

        Assert.Equal(EmulationOutcome.GeneralProtection(0), Read(cpu, MsrPolicy.FsBase));
        Assert.Equal(EmulationOutcome.GeneralProtection(0), Write(cpu, MsrPolicy.FsBase, 0x1000));
        Assert.Equal(9UL, cpu.FsBase);
    }

    [Fact]
    public void Efer_ReadsTheCurrentValue_AndAcceptsOnlyThatValue()
    {
        var cpu = new FakeEmulatedCpu { Efer = 0xd01 };

        Assert.Equal(EmulationOutcome.Emulated, Read(cpu, MsrPolicy.Efer));
        Assert.Equal(0xd01UL, EdxEax(cpu));
        Assert.Equal(EmulationOutcome.Emulated, Write(cpu, MsrPolicy.Efer, 0xd01));
        Assert.Equal(EmulationOutcome.GeneralProtection(0), Write(cpu, MsrPolicy.Efer, 0x501));
    }

    [Fact]
    public void Tsc_ReadsTheGuestTsc_AndIgnoresWrites()
    {
        var cpu = new FakeEmulatedCpu { Tsc = 0x0000_1234_8765_4321 };

        Assert.Equal(EmulationOutcome.Emulated, Read(cpu, MsrPolicy.Tsc));
        Assert.Equal(0x1234UL, cpu.Gprs[2]);
        Assert.Equal(0x8765_4321UL, cpu.Gprs[0]);
        Assert.Equal(EmulationOutcome.Emulated, Write(cpu, MsrPolicy.Tsc, 5));
        Assert.Equal(0x0000_1234_8765_4321UL, cpu.Tsc);
    }

    [Theory]
    [InlineData(0, 0xfee0_0900UL)]
    [InlineData(1, 0xfee0_0800UL)]
    public void ApicBase_IsTheDefaultEnabledApic_BspOnlyOnVcpu0(int vcpu, ulong expected)
    {
        var cpu = new FakeEmulatedCpu { VcpuId = vcpu };

        Assert.Equal(EmulationOutcome.Emulated, Read(cpu, MsrPolicy.ApicBase));
        Assert.Equal(expected, EdxEax(cpu));
        Assert.Equal(EmulationOutcome.Emulated, Write(cpu, MsrPolicy.ApicBase, expected));
        Assert.Equal(EmulationOutcome.GeneralProtection(0), Write(cpu, MsrPolicy.ApicBase, expected & ~(1UL << 11)));
    }

    [Fact]
    public void MiscEnableAndPat_ReadFixedValues_AndAcceptOnlyThem()
    {
        var cpu = new FakeEmulatedCpu();

        Assert.Equal(EmulationOutcome.Emulated, Read(cpu, MsrPolicy.MiscEnable));
        Assert.Equal((1UL << 11) | (1UL << 12) | (1UL << 23), EdxEax(cpu)); // BTS/PEBS unavailable, xTPR disabled
        Assert.Equal(EmulationOutcome.Emulated, Write(cpu, MsrPolicy.MiscEnable, (1UL << 11) | (1UL << 12) | (1UL << 23)));
        Assert.Equal(EmulationOutcome.GeneralProtection(0), Write(cpu, MsrPolicy.MiscEnable, 1));

        Assert.Equal(EmulationOutcome.Emulated, Read(cpu, MsrPolicy.CrPat));
        Assert.Equal(0x0000_0501_0007_0406UL, EdxEax(cpu));
        Assert.Equal(EmulationOutcome.Emulated, Write(cpu, MsrPolicy.CrPat, 0x0000_0501_0007_0406));
        Assert.Equal(EmulationOutcome.GeneralProtection(0), Write(cpu, MsrPolicy.CrPat, 0x0007_0406_0007_0406));
    }

    [Fact]
    public void HypercallPageMsr_InstallsThePage()
    {
        var cpu = new FakeEmulatedCpu();

        Assert.Equal(EmulationOutcome.Emulated, Write(cpu, XenCpuid.HypercallPageMsr, 0x1_2345_6000));
        Assert.Equal(0x12_3456UL, cpu.HypercallPageGmfn);
        Assert.Equal(Text + 2, cpu.Frame.Rip);
    }

    [Fact]
    public void HypercallPageMsr_RefusedFrame_IsGeneralProtection()
    {
        var cpu = new FakeEmulatedCpu { AcceptHypercallPage = false };

        Assert.Equal(EmulationOutcome.GeneralProtection(0), Write(cpu, XenCpuid.HypercallPageMsr, 0x5000));
        Assert.Equal(Text, cpu.Frame.Rip);
    }

    [Fact]
    public void HypercallPageMsr_NonzeroPageIndex_IsGeneralProtection_AndReadsAreRefused()
    {
        var cpu = new FakeEmulatedCpu();

        Assert.Equal(EmulationOutcome.GeneralProtection(0), Write(cpu, XenCpuid.HypercallPageMsr, 0x5001));
        Assert.Null(cpu.HypercallPageGmfn);
        Assert.Equal(EmulationOutcome.GeneralProtection(0), Read(cpu, XenCpuid.HypercallPageMsr));
    }

    [Fact]
    public void LockedRdmsr_IsAnInvalidOpcode()
    {
        var cpu = new FakeEmulatedCpu();
        cpu.Code(Text, 0xf0, 0x0f, 0x32);
        cpu.Gprs[1] = MsrPolicy.FsBase;

        Assert.Equal(EmulationOutcome.InvalidOpcode, PrivilegedOpEmulator.EmulateGeneralProtection(cpu));
        Assert.Equal(Text, cpu.Frame.Rip);
    }
}
