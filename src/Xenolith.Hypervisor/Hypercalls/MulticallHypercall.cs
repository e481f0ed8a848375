using System.Runtime.InteropServices;
using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// multicall: many hypercalls for one exit. Each entry's result is written back to it; a failing
/// entry does not stop the batch; a multicall inside a multicall is refused (-EINVAL); an iret
/// ends the batch and its result is the multicall's.
/// </summary>
public static class MulticallHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.Multicall, Handle);

    [StructLayout(LayoutKind.Sequential)]
    private struct Entry
    {
        public ulong Op;
        public ulong Result;
        public ulong Arg0, Arg1, Arg2, Arg3, Arg4, Arg5;
    }

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        if (caller.InMulticall)
            return -XenErrno.EINVAL;
        ulong list = args.Arg1;
        uint count = HypercallArguments.AsUInt(args.Arg2);
        caller.InMulticall = true;
        try
        {
            for (uint i = 0; i < count; i++)
            {
                ulong entryVa = list + (ulong)i * MulticallEntry.Size;
                if (i > 0 && caller.ShouldPreemptHypercall(multicall: true))
                {
                    caller.InMulticall = false;
                    caller.CreateContinuation(args with { Arg1 = entryVa, Arg2 = count - i });
                    return 0;
                }
                if (caller.ReadGuest(entryVa, out Entry entry) != 0)
                    return -XenErrno.EFAULT;
                var call = new HypercallArguments(entry.Op, entry.Arg0, entry.Arg1, entry.Arg2, entry.Arg3, entry.Arg4);
                long result = caller.Domain.Xen.Hypercalls.Dispatch(caller, call);
                if (caller.CopyToGuest(entryVa + MulticallEntry.ResultOffset, MemoryMarshal.AsBytes(new ReadOnlySpan<long>(in result))) != 0)
                    return -XenErrno.EFAULT;
                if (entry.Op == (ulong)Hypercall.Iret || caller.Domain.IsDying)
                    return result;
            }
            return 0;
        }
        finally
        {
            caller.InMulticall = false;
        }
    }
}
