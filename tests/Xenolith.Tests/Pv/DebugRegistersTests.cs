using System.Runtime.CompilerServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Pv;
using Xenolith.Kvm;
using Xunit;

namespace Xenolith.Tests.Pv;

/// <summary>set_debugreg / get_debugreg: Xen's rules, error codes and reserved-bit handling.</summary>
public sealed class DebugRegistersTests
{
    private readonly PvVcpuState _state = new();

    [Theory]
    [InlineData(0UL)]
    [InlineData(0x0000_7fff_ffff_ffffUL)]   // top of the lower half
    [InlineData(0xffff_8800_0000_0000UL)]   // first address after the hypervisor's range
    [InlineData(0xffff_ffff_ffff_fff8UL)]
    public void Address_Accepted(ulong address)
    {
        for (int register = 0; register < 4; register++)
        {
            ulong distinct = address ^ ((ulong)register << 3);    // stays on the same side of every boundary
            Assert.Equal(0, DebugRegisters.Set(_state, register, distinct));
            Assert.Equal(0, DebugRegisters.Get(_state, register, out ulong value));
            Assert.Equal(distinct, value);
        }
    }

    [Theory]
    [InlineData(0x0000_8000_0000_0000UL)]   // non-canonical
    [InlineData(0x8000_0000_0000_0000UL)]   // non-canonical
    [InlineData(0xffff_7fff_ffff_ffffUL)]   // non-canonical, just below the upper half
    [InlineData(X86Layout.HypervisorVirtStart)]
    [InlineData(0xffff_8100_0000_0000UL)]   // Xenolith's trampoline
    [InlineData(X86Layout.HypervisorVirtEnd - 1)]
    public void Address_Refused(ulong address)
    {
        Assert.Equal(0, DebugRegisters.Set(_state, 2, 0x1000));
        Assert.Equal(-XenErrno.EPERM, DebugRegisters.Set(_state, 2, address));
        Assert.Equal(0x1000UL, _state.DebugAddress[2]);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(4)]
    public void Dr6_ForcesReservedBits(int register)
    {
        Assert.Equal(0, DebugRegisters.Set(_state, register, 0));
        Assert.Equal(0xffff_0ff0UL, _state.Dr6);
        Assert.Equal(0, DebugRegisters.Set(_state, register, 0xffff_ffff));
        Assert.Equal(0xffff_effful, _state.Dr6);                   // bit 12 reads 0
        Assert.Equal(0, DebugRegisters.Set(_state, register, 0x4001));   // BS, B0
        Assert.Equal(0xffff_4ff1UL, _state.Dr6);
        Assert.Equal(0, DebugRegisters.Get(_state, register, out ulong value));
        Assert.Equal(0xffff_4ff1UL, value);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(4)]
    [InlineData(7)]
    [InlineData(5)]
    public void Dr6AndDr7_UpperHalfIsInvalid(int register)
    {
        ulong before = register % 2 == 0 ? _state.Dr6 : _state.Dr7;
        Assert.Equal(-XenErrno.EINVAL, DebugRegisters.Set(_state, register, 1UL << 32));
        Assert.Equal(-XenErrno.EINVAL, DebugRegisters.Set(_state, register, 0xffff_ffff_0000_0000));
        Assert.Equal(before, register % 2 == 0 ? _state.Dr6 : _state.Dr7);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(5)]
    public void Dr7_ForcesReservedBits(int register)
    {
        Assert.Equal(0, DebugRegisters.Set(_state, register, 0));
        Assert.Equal(0x400UL, _state.Dr7);
        // Bits 11 (RTM), 12, 14, 15 read 0; LE, GE, and the breakpoint fields stay.
        Assert.Equal(0, DebugRegisters.Set(_state, register, 0xd1ff_dbff));
        Assert.Equal(0xd1ff_07ffUL, _state.Dr7);
        Assert.Equal(0, DebugRegisters.Get(_state, register, out ulong value));
        Assert.Equal(0xd1ff_07ffUL, value);
    }

    [Fact]
    public void Dr7_GeneralDetectIsForbidden()
    {
        Assert.Equal(0, DebugRegisters.Set(_state, 7, 0x1));
        Assert.Equal(-XenErrno.EPERM, DebugRegisters.Set(_state, 7, 0x2000));
        Assert.Equal(-XenErrno.EPERM, DebugRegisters.Set(_state, 5, 0x2401));
        Assert.Equal(0x401UL, _state.Dr7);
    }

    [Theory]
    [InlineData(0x0002_0001UL, -XenErrno.EPERM)]   // breakpoint 0: I/O, enabled
    [InlineData(0x2000_0080UL, -XenErrno.EPERM)]   // breakpoint 3: I/O, globally enabled
    [InlineData(0x0002_0004UL, -XenErrno.EPERM)]   // breakpoint 0 I/O but only 1 enabled: Xen refuses all the same
    [InlineData(0x2222_0000UL, 0)]                 // I/O fields, nothing enabled: debugging is off, accepted
    [InlineData(0x3d1c_00ffUL, 0)]                 // every breakpoint enabled, none I/O (execute, write, write, read/write)
    public void Dr7_IoBreakpoints_NeedCr4De(ulong value, long expected)
    {
        Assert.Equal(expected, DebugRegisters.Set(_state, 7, value));
        Assert.Equal(expected == 0 ? value | 0x400 : 0x400, _state.Dr7);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(15)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void OtherRegisters_AreNoDevice(int register)
    {
        Assert.Equal(-XenErrno.ENODEV, DebugRegisters.Set(_state, register, 0));
        Assert.Equal(-XenErrno.ENODEV, DebugRegisters.Get(_state, register, out ulong value));
        Assert.Equal(0UL, value);
    }

    [Fact]
    public void InitialValues_AreTheArchitecturalReset()
    {
        Assert.Equal(0, DebugRegisters.Get(_state, 6, out ulong dr6));
        Assert.Equal(0, DebugRegisters.Get(_state, 7, out ulong dr7));
        Assert.Equal(0, DebugRegisters.Get(_state, 0, out ulong dr0));
        Assert.Equal((0xffff_0ff0UL, 0x400UL, 0UL), (dr6, dr7, dr0));
    }

    [Fact]
    public void KvmDebugRegs_MatchesTheKernelAbi()
    {
        Assert.Equal(128, Unsafe.SizeOf<KvmDebugRegs>());
        Assert.Equal((nuint)0x8080_aea1, KvmIoctl.GetDebugRegs);   // _IOR(KVMIO, 0xa1, struct kvm_debugregs)
        Assert.Equal((nuint)0x4080_aea2, KvmIoctl.SetDebugRegs);   // _IOW(KVMIO, 0xa2, struct kvm_debugregs)
    }
}
