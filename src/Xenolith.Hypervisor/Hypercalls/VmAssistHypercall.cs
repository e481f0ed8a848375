using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>vm_assist: turn on or off the optional behaviours a PV guest may ask of the hypervisor.</summary>
public static class VmAssistHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.VmAssist, Handle);

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        uint cmd = HypercallArguments.AsUInt(args.Arg1);
        uint type = HypercallArguments.AsUInt(args.Arg2);
        if (type >= 64 || (VmAssist.ValidMaskPv64 & (1UL << (int)type)) == 0)
            return -XenErrno.EINVAL;
        switch (cmd)
        {
            case VmAssist.CmdEnable:
                caller.Domain.SetVmAssist((int)type, true);
                return 0;
            case VmAssist.CmdDisable:
                caller.Domain.SetVmAssist((int)type, false);
                return 0;
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
