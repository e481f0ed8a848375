using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// set_debugreg and get_debugreg (xen/arch/x86/pv/misc-hypercalls.c). The rules are in
/// <see cref="Pv.DebugRegisters"/>, shared with the emulated mov to/from %dr; the vCPU also loads the
/// accepted values into the real debug registers.
/// </summary>
public static class DebugRegisterHypercalls
{
    public static void Register(HypercallTable table)
    {
        table.Register(Hypercall.SetDebugreg, SetDebugreg);
        table.Register(Hypercall.GetDebugreg, GetDebugreg);
    }

    /// <summary>set_debugreg(reg, value): 0, -ENODEV, -EINVAL or -EPERM. Xen takes reg as an int; negative ones are -ENODEV.</summary>
    private static long SetDebugreg(Vcpu caller, in HypercallArguments args) =>
        caller.SetDebugRegister(HypercallArguments.AsInt(args.Arg1), args.Arg2);

    /// <summary>
    /// get_debugreg(reg): the register's value itself, or -ENODEV. As in Xen the two can collide (a DR0
    /// of 0xffff_ffff_ffff_ffed reads as -ENODEV); the ABI has no other channel.
    /// </summary>
    private static long GetDebugreg(Vcpu caller, in HypercallArguments args)
    {
        long result = caller.GetDebugRegister(HypercallArguments.AsInt(args.Arg1), out ulong value);
        return result != 0 ? result : (long)value;
    }
}
