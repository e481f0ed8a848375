using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>sched_op: yield, block, poll and shutdown.</summary>
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
            case SchedOp.Block:
                caller.Block();
                return 0;
            case SchedOp.Poll:
                return Poll(caller, args.Arg2);
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

    /// <summary>Xen's limit on the ports one SCHEDOP_poll may name.</summary>
    private const uint MaxPollPorts = 128;

    /// <summary>
    /// struct sched_poll { evtchn_port_t *ports; unsigned int nr_ports; uint64_t timeout; }: -EINVAL
    /// for more than 128 ports or one beyond the domain's limit, -EFAULT for an unreadable list.
    /// </summary>
    private static long Poll(Vcpu caller, ulong arg)
    {
        if (caller.ReadGuest(arg, out SchedPoll poll) != 0)
            return -XenErrno.EFAULT;
        if (poll.PortCount > MaxPollPorts)
            return -XenErrno.EINVAL;
        int[] ports = new int[poll.PortCount];
        if (caller.CopyFromGuest(poll.Ports, System.Runtime.InteropServices.MemoryMarshal.AsBytes(ports.AsSpan())) != 0)
            return -XenErrno.EFAULT;
        foreach (int port in ports)
        {
            if (!caller.Domain.EventChannels.IsValidPort((uint)port))
                return -XenErrno.EINVAL;
        }
        caller.Poll(ports, (long)poll.Timeout);
        return 0;
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
