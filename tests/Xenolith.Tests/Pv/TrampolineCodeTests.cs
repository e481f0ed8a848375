using System.Buffers.Binary;
using Xenolith.Abi;
using Xenolith.Hypervisor.Pv;
using Xunit;

namespace Xenolith.Tests.Pv;

public sealed class TrampolineCodeTests
{
    [Fact]
    public void TssIoBitmap_OpensOnlyTheHypervisorsPorts()
    {
        var page = new byte[4096];
        TrampolineCode.WriteTss(page, rsp0: 0x1000, ist1: 0x2000);
        int bitmap = BinaryPrimitives.ReadUInt16LittleEndian(page.AsSpan(102));
        var open = Enumerable.Range(0, 1024).Where(port => (page[bitmap + port / 8] & (1 << (port % 8))) == 0).ToArray();

        Assert.Equal([HypervisorLayout.HypercallPort, HypervisorLayout.NullPort, HypervisorLayout.SyscallPort], open);
        Assert.Equal(0xff, page[bitmap + 128]); // the terminating byte
        Assert.Equal(0x1000UL, BinaryPrimitives.ReadUInt64LittleEndian(page.AsSpan(4)));
        Assert.Equal(0x2000UL, BinaryPrimitives.ReadUInt64LittleEndian(page.AsSpan(36)));
    }

    [Fact]
    public void Idt_GatesEnterTheStubs_AndOnlyInt3IntoAndInt80AreReachableFromRing3()
    {
        var page = new byte[4096];
        TrampolineCode.WriteIdt(page);
        for (int vector = 0; vector < 256; vector++)
        {
            ReadOnlySpan<byte> gate = page.AsSpan(vector * 16, 16);
            ulong target = BinaryPrimitives.ReadUInt16LittleEndian(gate) | ((ulong)BinaryPrimitives.ReadUInt16LittleEndian(gate[6..]) << 16)
                           | ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(gate[8..]) << 32);
            Assert.Equal(HypervisorLayout.StubsVa + (ulong)vector * 16, target);
            Assert.Equal(HypervisorLayout.HypervisorCs, BinaryPrimitives.ReadUInt16LittleEndian(gate[2..]));
            int dpl = (gate[5] >> 5) & 3;
            Assert.Equal(vector is 3 or 4 or 0x80 ? 3 : 0, dpl);
        }
    }

    [Fact]
    public void Stubs_ExitThroughTheTrapPort_WithAUniformFrame()
    {
        var page = new byte[4096];
        TrampolineCode.WriteStubPage(page);
        // #PF pushes its own error code; #UD gets push $0 first.
        Assert.Equal(new byte[] { 0xe6, HypervisorLayout.TrapPort, 0x48, 0x83, 0xc4, 0x08, 0x48, 0xcf }, page.AsSpan(14 * 16, 8).ToArray());
        Assert.Equal(new byte[] { 0x6a, 0x00, 0xe6, HypervisorLayout.TrapPort, 0x48, 0x83, 0xc4, 0x08, 0x48, 0xcf }, page.AsSpan(6 * 16, 10).ToArray());
    }

    [Fact]
    public void ReservedGdtPage_HoldsXensFlatSelectors()
    {
        var page = new byte[4096];
        TrampolineCode.WriteReservedGdtPage(page, tssVa: 0xffff_8100_0021_0000);
        ulong Descriptor(ushort selector) => BinaryPrimitives.ReadUInt64LittleEndian(page.AsSpan((selector & 0xfff8) - 0xe000));

        ulong cs64 = Descriptor(X86Layout.FlatRing3Cs64);
        Assert.Equal(3UL, (cs64 >> 45) & 3);       // DPL 3
        Assert.Equal(1UL, (cs64 >> 53) & 1);       // L: 64-bit code
        ulong cs32 = Descriptor(X86Layout.FlatRing3Cs32);
        Assert.Equal(0UL, (cs32 >> 53) & 1);
        Assert.Equal(1UL, (cs32 >> 54) & 1);       // D: 32-bit
        ulong ds = Descriptor(X86Layout.FlatRing3Ds32);
        Assert.Equal(3UL, (ds >> 45) & 3);
        Assert.Equal(0UL, (ds >> 43) & 1);         // data, not code
        Assert.Equal(0UL, (Descriptor(HypervisorLayout.HypervisorCs) >> 45) & 3);
        ulong tssLow = Descriptor(HypervisorLayout.TssSelector);
        ulong tssHigh = BinaryPrimitives.ReadUInt64LittleEndian(page.AsSpan((HypervisorLayout.TssSelector & 0xfff8) - 0xe000 + 8));
        ulong tssBase = ((tssLow >> 16) & 0xff_ffff) | (((tssLow >> 56) & 0xff) << 24) | (tssHigh << 32);
        Assert.Equal(0xffff_8100_0021_0000UL, tssBase);
    }

    [Fact]
    public void SyscallPage_HasA64BitAndACompatibilityEntry_EachOnlyAnOutToTheSyscallPort()
    {
        var page = new byte[4096];
        TrampolineCode.WriteSyscallPage(page);

        byte[] stub = [0xe6, HypervisorLayout.SyscallPort, 0x0f, 0x0b];
        Assert.Equal(stub, page[..4]);
        Assert.Equal(stub, page[HypervisorLayout.Syscall32StubOffset..(HypervisorLayout.Syscall32StubOffset + 4)]);
        Assert.Equal(0xcc, page[4]);
    }
}
