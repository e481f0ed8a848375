using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Events;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// event_channel_op (Xen's do_event_channel_op: command in arg1, its struct at arg2) and the old
/// event_channel_op_compat (one struct evtchn_op at arg1: the command, then the same struct at
/// offset 4). <see cref="EventChannels"/> does the work; this copies the structs in and out.
/// An unreadable struct is -EFAULT; so is an unwritable result, though the operation stays done
/// (Xen: "cleaning up here would be a mess").
/// </summary>
public static class EventChannelOpHypercall
{
    public static void Register(HypercallTable table)
    {
        table.Register(Hypercall.EventChannelOp, Handle);
        table.Register(Hypercall.EventChannelOpCompat, HandleCompat);
    }

    private static long Handle(Vcpu caller, in HypercallArguments args) =>
        Dispatch(caller, HypercallArguments.AsInt(args.Arg1), args.Arg2);

    /// <summary>do_event_channel_op_compat: only the commands that existed when it was superseded.</summary>
    private static long HandleCompat(Vcpu caller, in HypercallArguments args)
    {
        if (caller.ReadGuest(args.Arg1, out EventChannelOpCompat op) != 0)
            return -XenErrno.EFAULT;
        int command = (int)op.Command;
        if (command is < EventChannelOp.BindInterdomain or > EventChannelOp.Unmask)
            return -XenErrno.ENOSYS;
        return Dispatch(caller, command, args.Arg1 + EventChannelOpCompat.ArgumentOffset);
    }

    private static long Dispatch(Vcpu caller, int command, ulong va)
    {
        EventChannels channels = caller.Domain.Xen.EventChannels;
        IEventChannelDomain domain = caller.Domain;
        switch (command)
        {
            case EventChannelOp.AllocUnbound:
                return Exchange(caller, va, (ref EventChannelAllocUnbound r) => channels.AllocUnbound(domain, r.Dom, r.RemoteDom, out r.Port));
            case EventChannelOp.BindInterdomain:
                return Exchange(caller, va, (ref EventChannelBindInterdomain r) => channels.BindInterdomain(domain, r.RemoteDom, r.RemotePort, out r.LocalPort));
            case EventChannelOp.BindVirq:
                return Exchange(caller, va, (ref EventChannelBindVirq r) => channels.BindVirq(domain, r.Virq, r.Vcpu, out r.Port));
            case EventChannelOp.BindIpi:
                return Exchange(caller, va, (ref EventChannelBindIpi r) => channels.BindIpi(domain, r.Vcpu, out r.Port));
            case EventChannelOp.BindPirq:
                // No domain here is given physical IRQs (there is no passthrough), so every PIRQ is
                // one the caller may not use: Xen's evtchn_bind_pirq refuses those with -EPERM.
                return caller.ReadGuest(va, out EventChannelBindPirq _) != 0 ? -XenErrno.EFAULT : -XenErrno.EPERM;
            case EventChannelOp.Close or EventChannelOp.Send or EventChannelOp.Unmask:
            {
                if (caller.ReadGuest(va, out EventChannelPortArgument request) != 0)
                    return -XenErrno.EFAULT;
                return command switch
                {
                    EventChannelOp.Close => channels.Close(domain, request.Port),
                    EventChannelOp.Send => channels.Send(domain, request.Port),
                    _ => channels.Unmask(domain, request.Port),
                };
            }
            case EventChannelOp.Status:
                return Exchange(caller, va, (ref EventChannelStatus r) => channels.Status(domain, r.Dom, r.Port, out r));
            case EventChannelOp.BindVcpu:
            {
                if (caller.ReadGuest(va, out EventChannelBindVcpu request) != 0)
                    return -XenErrno.EFAULT;
                return channels.BindVcpu(domain, request.Port, request.Vcpu);
            }
            case EventChannelOp.Reset:
            {
                if (caller.ReadGuest(va, out EventChannelReset request) != 0)
                    return -XenErrno.EFAULT;
                return channels.Reset(domain, request.Dom);
            }
            default:
                // Including the FIFO ABI (init_control, expand_array, set_priority): a guest that
                // finds it missing stays on the 2-level ABI, which is all there is here.
                return -XenErrno.ENOSYS;
        }
    }

    private delegate int Operation<T>(ref T request);

    /// <summary>Reads the op's struct, runs it, and on success writes the struct (with its results) back.</summary>
    private static long Exchange<T>(Vcpu caller, ulong va, Operation<T> operation) where T : unmanaged
    {
        if (caller.ReadGuest(va, out T request) != 0)
            return -XenErrno.EFAULT;
        int rc = operation(ref request);
        return rc != 0 ? rc : WriteBack(caller, va, request);
    }

    private static int WriteBack<T>(Vcpu caller, ulong va, in T value) where T : unmanaged =>
        caller.CopyToGuest(va, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value))) != 0 ? -XenErrno.EFAULT : 0;
}
