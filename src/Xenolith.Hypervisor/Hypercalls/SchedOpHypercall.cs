using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>sched_op: yield and shutdown. Block and poll arrive with event channels.</summary>
public static class SchedOpHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.SchedOp, Handle);

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        switch (HypercallArguments.AsInt(args.Arg1))
        {
            case SchedOp.Yield:
                Thread.Yield();
                return 0;
            case SchedOp.Shutdown:
                {
                    // struct sched_shutdown { unsigned int reason; }
                    if (caller.ReadGuest(args.Arg2, out uint reason) != 0)
                        return -XenErrno.EFAULT;
                    if (reason > (uint)ShutdownReason.SoftReset)
                        return -XenErrno.EINVAL;
                    caller.Domain.Shutdown((ShutdownReason)reason);
                    return 0;
                }
            case SchedOp.ShutdownCode:
                {
                    if (caller.ReadGuest(args.Arg2, out uint reason) != 0)
                        return -XenErrno.EFAULT;
                    if (reason > (uint)ShutdownReason.SoftReset)
                        return -XenErrno.EINVAL;
                    caller.Domain.PendingShutdownCode = (ShutdownReason)reason;
                    return 0;
                }
            case SchedOp.RemoteShutdown:
            case SchedOp.PinOverride:
                // Control-domain operations; every guest here is unprivileged.
                return -XenErrno.EPERM;
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
