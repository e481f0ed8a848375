using Xenolith.Abi;
using Xenolith.Hypervisor.Pv.Emulation;
using Xunit;

namespace Xenolith.Tests.Pv.Emulation;

public sealed class ForcedEmulationTests
{
    private const ulong Text = 0xffff_ffff_8000_1000;
    private static readonly byte[] ForcedCpuid = [0x0f, 0x0b, (byte)'x', (byte)'e', (byte)'n', 0x0f, 0xa2];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ForcedCpuid_ReturnsTheXenSignature_InKernelAndUserMode(bool kernel)
    {
        var cpu = new FakeEmulatedCpu { InKernelMode = kernel };
        cpu.Code(kernel ? Text : 0x40_1000, ForcedCpuid);
        cpu.Gprs[0] = 0xdead_beef_4000_0000; // only eax is the leaf
        cpu.Gprs[3] = ulong.MaxValue;        // results zero-extend over whatever was there

        Assert.Equal(EmulationOutcome.Emulated, PrivilegedOpEmulator.EmulateInvalidOpcode(cpu));

        Assert.Equal(0x4000_0005UL, cpu.Gprs[0]);
        Assert.Equal(XenCpuid.SignatureEbx, cpu.Gprs[3]);
        Assert.Equal(XenCpuid.SignatureEcx, cpu.Gprs[1]);
        Assert.Equal(XenCpuid.SignatureEdx, cpu.Gprs[2]);
        Assert.Equal((kernel ? Text : 0x40_1000) + 7, cpu.Frame.Rip);
    }

    [Fact]
    public void ForcedCpuid_VersionLeaf()
    {
        var cpu = new FakeEmulatedCpu();
        cpu.Code(Text, ForcedCpuid);
        cpu.Gprs[0] = 0x4000_0001;

        Assert.Equal(EmulationOutcome.Emulated, PrivilegedOpEmulator.EmulateInvalidOpcode(cpu));
        Assert.Equal((4UL << 16) | 19, cpu.Gprs[0]);
        Assert.Equal(0UL, cpu.Gprs[3]);
    }

    [Fact]
    public void PlainUd2_IsAnInvalidOpcode()
    {
        var cpu = new FakeEmulatedCpu();
        cpu.Code(Text, 0x0f, 0x0b, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90);

        Assert.Equal(EmulationOutcome.InvalidOpcode, PrivilegedOpEmulator.EmulateInvalidOpcode(cpu));
        Assert.Equal(Text, cpu.Frame.Rip);
    }

    [Fact]
    public void PrefixWithoutCpuid_IsAnInvalidOpcode()
    {
        var cpu = new FakeEmulatedCpu();
        cpu.Code(Text, 0x0f, 0x0b, (byte)'x', (byte)'e', (byte)'n', 0x0f, 0x31); // rdtsc is not forced-emulated
        cpu.Gprs[0] = 0x4000_0000;

        Assert.Equal(EmulationOutcome.InvalidOpcode, PrivilegedOpEmulator.EmulateInvalidOpcode(cpu));
        Assert.Equal(0x4000_0000UL, cpu.Gprs[0]);
        Assert.Equal(Text, cpu.Frame.Rip);
    }

    [Fact]
    public void PrefixAtAPageEdge_WithTheTailUnreadable_IsAnInvalidOpcode()
    {
        var cpu = new FakeEmulatedCpu();
        ulong rip = Text + 4096 - 4; // "\x0f\x0bxe" fits, "n\x0f\xa2" would be on the unmapped next page
        cpu.Code(rip, ForcedCpuid.AsSpan(0, 4).ToArray());

        Assert.Equal(EmulationOutcome.InvalidOpcode, PrivilegedOpEmulator.EmulateInvalidOpcode(cpu));
        Assert.Equal(rip, cpu.Frame.Rip);
    }

    [Fact]
    public void PrefixAcrossAPageBoundary_WithBothPagesMapped_IsEmulated()
    {
        var cpu = new FakeEmulatedCpu();
        ulong rip = Text + 4096 - 3;
        cpu.Code(rip, ForcedCpuid);
        cpu.Gprs[0] = 0x4000_0000;

        Assert.Equal(EmulationOutcome.Emulated, PrivilegedOpEmulator.EmulateInvalidOpcode(cpu));
        Assert.Equal(rip + 7, cpu.Frame.Rip);
    }

    [Fact]
    public void UnreadableRip_IsAnInvalidOpcode()
    {
        var cpu = new FakeEmulatedCpu();
        cpu.Frame.Rip = 0x1234_5000;

        Assert.Equal(EmulationOutcome.InvalidOpcode, PrivilegedOpEmulator.EmulateInvalidOpcode(cpu));
    }

    [Fact]
    public void CompatibilityModeRip_WrapsAt4GiB()
    {
        var cpu = new FakeEmulatedCpu { Is64BitCode = false, InKernelMode = false };
        cpu.Code(0xffff_fff9, ForcedCpuid);
        cpu.Gprs[0] = 0x4000_0002;

        Assert.Equal(EmulationOutcome.Emulated, PrivilegedOpEmulator.EmulateInvalidOpcode(cpu));
        Assert.Equal(0UL, cpu.Frame.Rip);
        Assert.Equal(1UL, cpu.Gprs[0]);
        Assert.Equal(XenCpuid.HypercallPageMsr, cpu.Gprs[3]);
    }
}
