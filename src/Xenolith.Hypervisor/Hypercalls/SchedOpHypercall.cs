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
                return WithReason(caller, args.Arg2, (domain, reason) => domain.Shutdown(reason));
            case SchedOp.ShutdownCode:
                return WithReason(caller, args.Arg2, (domain, reason) => domain.PendingShutdownCode = reason);
            case SchedOp.RemoteShutdown:
            case SchedOp.PinOverride:
                // Control-domain operations; every guest here is unprivileged.
                return -XenErrno.EPERM;
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>Reads struct sched_shutdown { unsigned int reason; } and applies a valid reason.</summary>
    private static long WithReason(Vcpu caller, ulong arg, Action<Domain, ShutdownReason> apply)
    {
        if (caller.ReadGuest(arg, out uint reason) != 0)
            return -XenErrno.EFAULT;
        if (reason > (uint)ShutdownReason.SoftReset)
            return -XenErrno.EINVAL;
        apply(caller.Domain, (ShutdownReason)reason);
        return 0;
    }
}
