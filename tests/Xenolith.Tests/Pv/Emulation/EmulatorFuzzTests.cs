using Xenolith.Hypervisor.Pv.Emulation;
using Xunit;

namespace Xenolith.Tests.Pv.Emulation;

public sealed class EmulatorFuzzTests
{
    [Fact]
    public void RandomBytes_NeverThrow_AndFaultsLeaveRipAlone()
    {
        var random = new Random(20240613);
        int emulated = 0;
        var interesting = new byte[] { 0x0f, 0xf0, 0xf2, 0xf3, 0x66, 0x67, 0x64, 0x65, 0x40, 0x44, 0x48, 0x4f, 0x6c, 0x6d, 0x6e, 0x6f, 0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef, 0xfa, 0xfb, 0xf4, 0x20, 0x21, 0x22, 0x23, 0x30, 0x32, 0x06, 0x08, 0x09, 0x0b, 0xa2, 0x01, 0x00 };
        for (int i = 0; i < 20_000; i++)
        {
            var cpu = new FakeEmulatedCpu
            {
                InKernelMode = random.Next(2) == 0,
                Is64BitCode = random.Next(4) != 0,
                ArchitecturalIopl = random.Next(2) == 0,
                VcpuId = random.Next(4),
                FsBase = (ulong)random.NextInt64(),
                GsBaseKernel = (ulong)random.NextInt64(),
                PortsPermitted = random.Next(2) == 0,
                AcceptBasePointer = random.Next(2) == 0,
                DebugRegisterResult = random.Next(4) == 0 ? -random.Next(30) : 0,
            };
            cpu.State.Iopl = random.Next(4);
            for (int r = 0; r < 16; r++)
                cpu.Gprs[r] = random.Next(3) switch { 0 => (ulong)random.Next(64), 1 => (ulong)random.NextInt64(), _ => 0x10_0000 + (ulong)random.Next(8192) };
            if (random.Next(2) == 0)
                cpu.Frame.Rflags |= 1UL << 10;
            cpu.Map(0x10_0000, 4096); // a buffer for string I/O to hit sometimes

            var code = new byte[random.Next(1, 16)];
            for (int b = 0; b < code.Length; b++)
                code[b] = random.Next(2) == 0 ? interesting[random.Next(interesting.Length)] : (byte)random.Next(256);
            // Sometimes put the code at the end of a page with nothing after it.
            ulong rip = random.Next(2) == 0 ? 0x40_0000 : 0x40_1000 - (ulong)code.Length;
            cpu.Code(rip, code);

            EmulationOutcome gp = PrivilegedOpEmulator.EmulateGeneralProtection(cpu);
            if (gp.Result != EmulationResult.Fault)
                emulated++;
            if (gp.Result == EmulationResult.Fault)
            {
                Assert.True(gp.Vector is 6 or 13, $"vector {gp.Vector} for {Convert.ToHexString(code)}");
                Assert.Equal(rip, cpu.Frame.Rip);
            }

            cpu.Frame.Rip = rip;
            EmulationOutcome ud = PrivilegedOpEmulator.EmulateInvalidOpcode(cpu);
            Assert.True(ud == EmulationOutcome.InvalidOpcode || ud == EmulationOutcome.Emulated);
            if (ud.Result == EmulationResult.Fault)
                Assert.Equal(rip, cpu.Frame.Rip);
        }

        Assert.InRange(emulated, 100, 19_000); // the generator reaches the emulated paths, not only the faults
    }
}
