using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// CPU state a PV kernel may not set itself at CPL3: the FS and GS bases and the user GS selector
/// (set_segment_base), and CR0.TS for lazy FPU switching (fpu_taskswitch).
/// </summary>
public static class CpuStateHypercalls
{
    public static void Register(HypercallTable table)
    {
        table.Register(Hypercall.SetSegmentBase, SetSegmentBase);
        table.Register(Hypercall.FpuTaskswitch, FpuTaskswitch);
    }

    private static long SetSegmentBase(Vcpu caller, in HypercallArguments args)
    {
        uint which = HypercallArguments.AsUInt(args.Arg1);
        ulong value = args.Arg2;
        switch (which)
        {
            case SegmentBase.Fs or SegmentBase.GsUser or SegmentBase.GsKernel:
                if (!GuestPageTables.IsCanonical(value))
                    return -XenErrno.EINVAL;
                if (which == SegmentBase.Fs)
                    caller.FsBase = value;
                else if (which == SegmentBase.GsUser)
                    caller.GsBaseUser = value;
                else
                    caller.GsBaseKernel = value;
                return 0;
            case SegmentBase.GsUserSelector:
                // Errors were never reported for this one (Linux would BUG()): a bad selector becomes null.
                caller.LoadUserGsSelector((ushort)value);
                return 0;
            default:
                return -XenErrno.EINVAL;
        }
    }

    private static long FpuTaskswitch(Vcpu caller, in HypercallArguments args)
    {
        caller.SetFpuTaskSwitched(HypercallArguments.AsInt(args.Arg1) != 0);
        return 0;
    }
}
