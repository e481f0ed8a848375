using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xenolith.Abi;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// The shape mmu_update and mmuext_op share: an array of fixed-size requests, a count whose top
/// bit marks a resumed continuation (the running total then comes from *pdone), a foreign domain
/// argument, processing that stops at the first error, and *pdone written with the number done.
/// Long batches yield with a continuation that re-issues the call for the rest.
/// </summary>
internal static class GuestBatch
{
    /// <summary>
    /// What a batch does with each request. Implemented by structs, so that <see cref="Run"/> is
    /// compiled once per operation and calls it directly, with no delegate in the per-entry loop.
    /// </summary>
    public interface IOperation<T> where T : unmanaged
    {
        long Apply(Vcpu caller, in T request);
    }

    /// <summary>
    /// Requests between two preemption checks. Reading the clock costs more than applying a typical
    /// request (a page-table entry: tens of nanoseconds), so it is read once per this many; a batch
    /// still yields close to the 1 ms budget unless its requests are individually long.
    /// </summary>
    private const uint PreemptCheckInterval = 64;

    public static long Run<T, TOperation>(Vcpu caller, in HypercallArguments args, TOperation operation)
        where T : unmanaged
        where TOperation : struct, IOperation<T>
    {
        ulong requests = args.Arg1;
        uint count = HypercallArguments.AsUInt(args.Arg2);
        ulong doneVa = args.Arg3;
        uint done = 0;
        if ((count & MmuUpdate.Preempted) != 0)
        {
            count &= ~MmuUpdate.Preempted;
            if (doneVa != 0 && caller.ReadGuest(doneVa, out done) != 0)
                return -XenErrno.EFAULT;
        }
        long rc = CheckForeignDomain(caller, args.Arg4);
        if (rc == -XenErrno.ESRCH)
            return rc;
        int size = Unsafe.SizeOf<T>();
        // Requests are copied in a page's worth at a time: one guest page-table walk per chunk, not per request.
        Span<T> chunk = stackalloc T[Math.Max(1, Memory.MachineMemory.PageSize / size)];
        uint chunkStart = 0, chunkCount = 0;
        uint i = 0;
        for (; rc == 0 && i < count; i++)
        {
            if (i % PreemptCheckInterval == 0 && i > 0 && caller.ShouldPreemptHypercall())
            {
                caller.CreateContinuation(args with
                {
                    Arg1 = requests + (ulong)i * (ulong)size,
                    Arg2 = (count - i) | MmuUpdate.Preempted,
                });
                break;
            }
            if (i - chunkStart >= chunkCount)
            {
                chunkStart = i;
                chunkCount = (uint)Math.Min((ulong)chunk.Length, count - i);
                if (caller.CopyFromGuest(requests + (ulong)i * (ulong)size, MemoryMarshal.AsBytes(chunk[..(int)chunkCount])) != 0)
                {
                    // Somewhere in this chunk a request is unreadable: fall back to one at a time to find it.
                    chunkCount = 1;
                    if (caller.CopyFromGuest(requests + (ulong)i * (ulong)size, MemoryMarshal.AsBytes(chunk[..1])) != 0)
                    {
                        rc = -XenErrno.EFAULT;
                        break;
                    }
                }
            }
            rc = operation.Apply(caller, chunk[(int)(i - chunkStart)]);
            if (rc != 0 || caller.Domain.IsDying)
                break;
        }
        uint total = done + i;
        if (doneVa != 0 && caller.CopyToGuest(doneVa, MemoryMarshal.AsBytes(new ReadOnlySpan<uint>(in total))) != 0 && rc == 0)
            rc = -XenErrno.EFAULT;
        return rc;
    }

    /// <summary>
    /// foreigndom: DOMID_SELF or the caller's own id; an unprivileged domain naming any other
    /// existing domain (as the frames' or the tables' owner) gets -EPERM, a missing one -ESRCH.
    /// </summary>
    private static long CheckForeignDomain(Vcpu caller, ulong foreign)
    {
        ushort pageOwner = (ushort)foreign;
        ushort tableOwner = (ushort)(foreign >> 16);
        if (tableOwner != 0 && tableOwner - 1 != caller.Domain.Id)
            return caller.Domain.Xen.FindDomain((ushort)(tableOwner - 1)) is null ? -XenErrno.ESRCH : -XenErrno.EPERM;
        if (pageOwner == DomainIds.Self || pageOwner == caller.Domain.Id)
            return 0;
        return caller.Domain.Xen.FindDomain(pageOwner) is null ? -XenErrno.ESRCH : -XenErrno.EPERM;
    }
}
