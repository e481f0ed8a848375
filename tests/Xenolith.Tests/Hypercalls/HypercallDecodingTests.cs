using Xenolith.Abi;
using Xenolith.Hypervisor.Hypercalls;
using Xenolith.Kvm;
using Xunit;

namespace Xenolith.Tests.Hypercalls;

public sealed class HypercallDecodingTests
{
    [Fact]
    public void Arguments_ComeFromRaxRdiRsiRdxR10R8()
    {
        var regs = new KvmRegs { Rax = 17, Rdi = 1, Rsi = 2, Rdx = 3, R10 = 4, R8 = 5, Rcx = 99, R9 = 98 };
        Assert.Equal(new HypercallArguments(17, 1, 2, 3, 4, 5), HypercallArguments.FromRegisters(regs));
    }

    [Theory]
    [InlineData(0x0000_0000_ffff_ffffUL, -1)]
    [InlineData(0xdead_beef_0000_0002UL, 2)]      // upper half ignored, as C's int truncation
    [InlineData(0x0000_0000_8000_0000UL, int.MinValue)]
    public void Commands_AreCInts(ulong register, int expected) => Assert.Equal(expected, HypercallArguments.AsInt(register));

    [Fact]
    public void Counts_AreUnsignedInts() => Assert.Equal(0x8000_0000u, HypercallArguments.AsUInt(0xffff_0000_8000_0000));

    [Theory]
    [InlineData(11UL)]     // a number Xen leaves unused
    [InlineData(42UL)]     // known but not implemented here
    [InlineData(64UL)]     // beyond the table
    [InlineData(ulong.MaxValue)]
    public void UnknownOrUnimplemented_IsENOSYS(ulong number)
    {
        var table = new HypercallTable();
        ConsoleIoHypercall.Register(table);
        // The handler is never reached, so no vCPU is needed.
        Assert.Equal(-XenErrno.ENOSYS, table.Dispatch(null!, new HypercallArguments(number, 0, 0, 0, 0, 0)));
    }
}
