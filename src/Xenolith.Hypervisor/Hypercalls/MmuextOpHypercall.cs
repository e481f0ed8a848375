using System.Runtime.InteropServices;
using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// mmuext_op: so far the two commands the guest kernel/user switch needs, NEW_BASEPTR and
/// NEW_USER_BASEPTR, which accept only page tables the hypervisor has validated. Pinning, flushes
/// and the rest come with the validating MMU and return -ENOSYS until then.
/// </summary>
public static class MmuextOpHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.MmuextOp, Handle);

    [StructLayout(LayoutKind.Sequential)]
    private struct Op
    {
        public uint Cmd;
        private uint _pad;
        public ulong Arg1;
        public ulong Arg2;
    }

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        uint count = HypercallArguments.AsUInt(args.Arg2);
        ulong doneVa = args.Arg3;
        ushort foreign = (ushort)args.Arg4;
        if (foreign != DomainIds.Self && foreign != caller.Domain.Id)
            return -XenErrno.EPERM;
        long rc = 0;
        uint done = 0;
        for (; done < count; done++)
        {
            if (caller.ReadGuest(args.Arg1 + (ulong)done * MmuextOp.Size, out Op op) != 0)
            {
                rc = -XenErrno.EFAULT;
                break;
            }
            rc = Execute(caller, op);
            if (rc != 0 || caller.Domain.IsDying)
                break;
        }
        if (doneVa != 0 && caller.CopyToGuest(doneVa, MemoryMarshal.AsBytes(new ReadOnlySpan<uint>(in done))) != 0 && rc == 0)
            rc = -XenErrno.EFAULT;
        return rc;
    }

    private static long Execute(Vcpu caller, in Op op) => (int)op.Cmd switch
    {
        MmuextOp.NewBaseptr => caller.SetKernelBasePointer(op.Arg1) ? 0 : -XenErrno.EINVAL,
        MmuextOp.NewUserBaseptr => caller.SetUserBasePointer(op.Arg1) ? 0 : -XenErrno.EINVAL,
        _ => -XenErrno.ENOSYS,
    };
}
