using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>Handles one hypercall for the calling vCPU and returns the value for rax.</summary>
public delegate long HypercallHandler(Vcpu caller, in HypercallArguments args);

/// <summary>The one dispatch table from hypercall number to handler; unknown numbers return -ENOSYS.</summary>
public sealed class HypercallTable
{
    public const int Size = 64;
    private readonly HypercallHandler?[] _handlers = new HypercallHandler?[Size];

    public void Register(Hypercall number, HypercallHandler handler) => _handlers[(int)number] = handler;

    public bool IsImplemented(Hypercall number) => (ulong)number < Size && _handlers[(int)number] is not null;

    public long Dispatch(Vcpu caller, in HypercallArguments args)
    {
        if (args.Number >= Size || _handlers[args.Number] is not { } handler)
            return -XenErrno.ENOSYS;
        return handler(caller, args);
    }
}
