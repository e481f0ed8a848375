using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// console_io: the hypervisor's own console, for early output. Every domain may use it (as on a
/// debug build of Xen, where domUs may write): it is the test guests' only output before the PV
/// console ring exists.
/// </summary>
public static class ConsoleIoHypercall
{
    private const int Chunk = 128;

    public static void Register(HypercallTable table) => table.Register(Hypercall.ConsoleIo, Handle);

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        int cmd = HypercallArguments.AsInt(args.Arg1);
        uint count = HypercallArguments.AsUInt(args.Arg2);
        ulong buffer = args.Arg3;
        if (count > int.MaxValue)
            return -XenErrno.EINVAL;
        return cmd switch
        {
            ConsoleIo.Write => Write(caller, buffer, count),
            ConsoleIo.Read => Read(caller, buffer, count),
            _ => -XenErrno.ENOSYS,
        };
    }

    private static long Write(Vcpu caller, ulong buffer, uint count)
    {
        Span<byte> chunk = stackalloc byte[Chunk];
        while (count > 0)
        {
            int length = (int)Math.Min(count, Chunk);
            if (caller.CopyFromGuest(buffer, chunk[..length]) != 0)
                return -XenErrno.EFAULT;
            caller.Domain.Console.Write(chunk[..length]);
            buffer += (ulong)length;
            count -= (uint)length;
        }
        return 0;
    }

    private static long Read(Vcpu caller, ulong buffer, uint count)
    {
        if (count == 0)
            return 0;
        byte[] data = caller.Domain.Console.ReadInput((int)Math.Min(count, 4096));
        if (data.Length > 0 && caller.CopyToGuest(buffer, data) != 0)
            return -XenErrno.EFAULT;
        return data.Length;
    }
}
