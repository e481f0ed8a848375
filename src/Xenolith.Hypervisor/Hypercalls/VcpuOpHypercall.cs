using System.Runtime.InteropServices;
using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// vcpu_op(cmd, vcpuid, arg) (Xen's common do_vcpu_op and its x86 part): bringing vCPUs up and
/// down, their runstate, timers and vcpu_info placement. A vCPU the domain does not have is -ENOENT.
/// </summary>
public static class VcpuOpHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.VcpuOp, Handle);

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        int command = HypercallArguments.AsInt(args.Arg1);
        uint id = HypercallArguments.AsUInt(args.Arg2);
        ulong arg = args.Arg3;
        Domain domain = caller.Domain;
        if (id >= domain.Vcpus.Count)
            return -XenErrno.ENOENT;
        Vcpu target = domain.Vcpus[(int)id];
        switch (command)
        {
            case VcpuOp.Initialise:
                return Initialise(caller, target, arg);
            case VcpuOp.Up:
                return target.BringUp();
            case VcpuOp.Down:
                return Down(domain, target);
            case VcpuOp.IsUp:
                return target.IsUp ? 1 : 0;
            case VcpuOp.GetRunstateInfo:
                VcpuRunstateInfo info = target.RunstateInfo;
                return caller.CopyToGuest(arg, MemoryMarshal.AsBytes(new ReadOnlySpan<VcpuRunstateInfo>(in info))) != 0 ? -XenErrno.EFAULT : 0;
            case VcpuOp.RegisterRunstateMemoryArea:
                return caller.ReadGuest(arg, out ulong area) != 0 ? -XenErrno.EFAULT : target.RegisterRunstateArea(area);
            case VcpuOp.SetPeriodicTimer:
                return caller.ReadGuest(arg, out ulong period) != 0 ? -XenErrno.EFAULT : target.SetPeriodicTimer((long)Math.Min(period, long.MaxValue));
            case VcpuOp.StopPeriodicTimer:
                target.StopPeriodicTimer();
                return 0;
            case VcpuOp.SetSingleshotTimer:
                return SetSingleshotTimer(caller, target, arg);
            case VcpuOp.StopSingleshotTimer:
                // Only a vCPU's own single-shot timer may be touched (Xen: v != current is -EINVAL).
                if (target != caller)
                    return -XenErrno.EINVAL;
                target.StopSingleshotTimer();
                return 0;
            case VcpuOp.RegisterVcpuInfo:
                return caller.ReadGuest(arg, out VcpuRegisterVcpuInfo register) != 0
                    ? -XenErrno.EFAULT
                    : target.RegisterVcpuInfo(register.Mfn, register.Offset);
            case VcpuOp.GetPhysid:
                // Physical CPU ids are for the hardware domain only.
                return -XenErrno.EINVAL;
            default:
                // send_nmi and register_vcpu_time_memory_area are not built; guests fall back without them.
                return -XenErrno.ENOSYS;
        }
    }

    private static long Initialise(Vcpu caller, Vcpu target, ulong arg)
    {
        byte[] context = new byte[VcpuGuestContext.Size];
        if (caller.CopyFromGuest(arg, context) != 0)
            return -XenErrno.EFAULT;
        return target.Initialise(context);
    }

    /// <summary>Taking down the last vCPU that is up powers the domain off, as on Xen.</summary>
    private static long Down(Domain domain, Vcpu target)
    {
        bool othersUp = false;
        foreach (Vcpu vcpu in domain.Vcpus)
            othersUp |= vcpu != target && vcpu.IsUp;
        if (!othersUp)
        {
            domain.Shutdown(ShutdownReason.Poweroff);
            return 0;
        }
        target.BringDown();
        return 0;
    }

    private static long SetSingleshotTimer(Vcpu caller, Vcpu target, ulong arg)
    {
        if (target != caller)
            return -XenErrno.EINVAL;
        if (caller.ReadGuest(arg, out VcpuSetSingleshotTimer timer) != 0)
            return -XenErrno.EFAULT;
        long deadline = (long)timer.TimeoutAbsNs;
        if ((timer.Flags & VcpuOp.SingleshotFuture) != 0 && deadline < caller.Domain.Xen.Clock.Now)
            return -XenErrno.ETIME;
        caller.SetSingleshotTimer(deadline);
        return 0;
    }
}
