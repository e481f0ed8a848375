using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>physdev_op: so far only PHYSDEVOP_set_iopl, the virtual I/O privilege level the emulator checks.</summary>
public static class PhysdevOpHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.PhysdevOp, Handle);

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        switch (HypercallArguments.AsInt(args.Arg1))
        {
            case PhysdevOp.SetIopl:
                if (caller.ReadGuest(args.Arg2, out uint iopl) != 0)
                    return -XenErrno.EFAULT;
                if (iopl > 3)
                    return -XenErrno.EINVAL;
                caller.Pv.Iopl = (int)iopl;
                return 0;
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
