using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Pv;

/// <summary>
/// Xen's rules for a PV guest's debug registers (set_debugreg, get_debugreg, mov to/from %dr), from
/// xen/arch/x86/pv/misc-hypercalls.c and x86emul_read_dr. The guest must not be able to breakpoint
/// the hypervisor's range or take #DB on hypervisor code (DR7.GD), and its reserved bits read as the
/// hardware's. The guest's virtual CR4.DE is never set, so DR4/DR5 alias DR6/DR7 and I/O
/// breakpoints are refused.
/// </summary>
/// <remarks>
/// Only the validation and the virtual values live here; loading them into the real vCPU (for
/// example through KVM_SET_DEBUGREGS) is the caller's job. Error codes follow Xen's convention for
/// its emulator: -ENODEV becomes #UD, -EINVAL (a reserved bit) and -EPERM (a valid but forbidden
/// setting) become #GP(0).
/// </remarks>
public static class DebugRegisters
{
    /// <summary>DR6 bits a guest may set: B0-B3, BD, BS, BT.</summary>
    public const ulong Dr6Writable = 0xe00f;

    /// <summary>DR6 bits that read as 1 (X86_DR6_DEFAULT; RTM's bit 16 reads 1 as the domain has no RTM, BLD's bit 11 as it has no bus-lock detect).</summary>
    public const ulong Dr6Ones = 0xffff_0ff0;

    /// <summary>DR7 bit 10 reads as 1 (X86_DR7_DEFAULT).</summary>
    public const ulong Dr7Ones = 0x400;

    /// <summary>DR7 bits that read as 0 (X86_DR7_ZEROS: bits 12, 14, 15, and RTM's bit 11 as the domain has no RTM).</summary>
    public const ulong Dr7Zeros = 0xd800;

    /// <summary>DR7.GD: #DB on any debug-register access, which would be taken by the hypervisor.</summary>
    public const ulong Dr7GeneralDetect = 1 << 13;

    /// <summary>DR7 L0-L3 and G0-G3.</summary>
    public const ulong Dr7EnableMask = 0xff;

    /// <summary>DR7 R/W field value 0b10: break on I/O (requires CR4.DE).</summary>
    private const ulong Dr7RwIo = 2;

    /// <summary>Validates and stores into <paramref name="state"/>: 0, -ENODEV (#UD), -EINVAL or -EPERM (#GP).</summary>
    /// <remarks>
    /// DR0-DR3: -EPERM unless the address is in the lower canonical half or above the hypervisor's
    /// range (Xen's breakpoint_addr_ok). DR6/DR7 (and DR4/DR5): -EINVAL if any of the upper 32 bits is
    /// set; reserved bits are then forced. DR7: -EPERM for GD, and -EPERM for an I/O breakpoint:
    /// exactly as Xen, once any breakpoint is enabled, any R/W field of 0b10 is refused, enabled or not.
    /// </remarks>
    public static long Set(PvVcpuState state, int register, ulong value)
    {
        switch (register)
        {
            case >= 0 and <= 3:
                if (!BreakpointAddressOk(value))
                    return -XenErrno.EPERM;
                state.DebugAddress[register] = value;
                return 0;
            case 4:
            case 6:
                if (value >> 32 != 0)
                    return -XenErrno.EINVAL;
                state.Dr6 = (value & Dr6Writable) | Dr6Ones;
                return 0;
            case 5:
            case 7:
                if (value >> 32 != 0)
                    return -XenErrno.EINVAL;
                value = (value & ~Dr7Zeros) | Dr7Ones;
                if ((value & Dr7GeneralDetect) != 0)
                    return -XenErrno.EPERM;
                if ((value & Dr7EnableMask) != 0)
                {
                    for (int shift = 16; shift < 32; shift += 4)
                    {
                        if (((value >> shift) & 3) == Dr7RwIo)
                            return -XenErrno.EPERM;
                    }
                }
                state.Dr7 = value;
                return 0;
            default:
                return -XenErrno.ENODEV;
        }
    }

    /// <summary>Reads from <paramref name="state"/>: 0 and the value, or -ENODEV.</summary>
    public static long Get(PvVcpuState state, int register, out ulong value)
    {
        switch (register)
        {
            case >= 0 and <= 3:
                value = state.DebugAddress[register];
                return 0;
            case 4:
            case 6:
                value = state.Dr6;
                return 0;
            case 5:
            case 7:
                value = state.Dr7;
                return 0;
            default:
                value = 0;
                return -XenErrno.ENODEV;
        }
    }

    /// <summary>Xen's breakpoint_addr_ok: canonical and not the hypervisor's own range.</summary>
    public static bool BreakpointAddressOk(ulong address) => GuestPageTables.IsGuestAddress(address);
}
