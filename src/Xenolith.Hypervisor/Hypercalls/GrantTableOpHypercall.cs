using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Grants;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// grant_table_op(cmd, uop, count) (Xen's do_grant_table_op): copies each op's struct in, runs it
/// in <see cref="GrantTables"/>, and writes back what Xen writes back (the whole struct for map,
/// query_size and set_version, else only the status or version field). Batched ops keep going
/// after an op fails, each with its status, and yield with a continuation that re-issues the call
/// for the rest; an unreadable or unwritable op ends the batch with -EFAULT, the ops before it done.
/// </summary>
public static class GrantTableOpHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.GrantTableOp, Handle);

    private delegate long Operation<T>(Vcpu caller, ref T op);

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        uint command = HypercallArguments.AsUInt(args.Arg1);
        ulong uop = args.Arg2;
        uint count = HypercallArguments.AsUInt(args.Arg3);
        if ((int)count < 0)
            return -XenErrno.EINVAL;
        uint opaque = command & ~GrantTableOp.CommandMask;
        command &= GrantTableOp.CommandMask;
        // Only cache_flush carries state in the command's upper bits.
        if (command != GrantTableOp.CacheFlush && opaque != 0)
            return -XenErrno.EINVAL;
        GrantTables grants = caller.Domain.Xen.Grants;
        Domain domain = caller.Domain;
        switch ((int)command)
        {
            case GrantTableOp.MapGrantRef:
                return Batch(caller, args, uop, count, WholeStruct<GrantMapGrantRef>(),
                    (Vcpu v, ref GrantMapGrantRef op) => { grants.Map(domain, v.PageTableBase, ref op); return 0; });
            case GrantTableOp.UnmapGrantRef:
                return Batch(caller, args, uop, count, StatusField<GrantUnmapGrantRef>(),
                    (Vcpu v, ref GrantUnmapGrantRef op) => { op.Status = grants.Unmap(domain, v.PageTableBase, op.Handle, op.HostAddr, op.DevBusAddr); return 0; });
            case GrantTableOp.UnmapAndReplace:
                return Batch(caller, args, uop, count, StatusField<GrantUnmapAndReplace>(),
                    (Vcpu v, ref GrantUnmapAndReplace op) => { op.Status = grants.Unmap(domain, v.PageTableBase, op.Handle, op.HostAddr, 0, op.NewAddr); return 0; });
            case GrantTableOp.Copy:
                return Batch(caller, args, uop, count, StatusField<GrantCopy>(),
                    (Vcpu _, ref GrantCopy op) => { op.Status = grants.Copy(domain, op); return 0; });
            case GrantTableOp.SwapGrantRef:
                return Batch(caller, args, uop, count, StatusField<GrantSwapGrantRef>(),
                    (Vcpu _, ref GrantSwapGrantRef op) => { op.Status = grants.Swap(domain, op.RefA, op.RefB); return 0; });
            case GrantTableOp.CacheFlush:
            {
                // The opaque argument is where the first op's search resumes; every later op starts at 0.
                uint firstRef = opaque >> GrantTableOp.ContinuationArgShift;
                return Batch(caller, args with { Arg1 = command }, uop, count, (0, 0),
                    (Vcpu _, ref GrantCacheFlush op) => grants.CacheFlush(domain, op, Interlocked.Exchange(ref firstRef, 0)));
            }
            case GrantTableOp.SetupTable:
                return SetupTable(caller, grants, uop, count);
            case GrantTableOp.QuerySize:
            {
                if (count != 1)
                    return -XenErrno.EINVAL;
                if (caller.ReadGuest(uop, out GrantQuerySize op) != 0)
                    return -XenErrno.EFAULT;
                op.Status = grants.QuerySize(domain, op.Dom, out op.NrFrames, out op.MaxNrFrames);
                return WriteBack(caller, uop, op, WholeStruct<GrantQuerySize>());
            }
            case GrantTableOp.GetStatusFrames:
            {
                if (count != 1)
                    return -XenErrno.EINVAL;
                if (caller.ReadGuest(uop, out GrantGetStatusFrames op) != 0)
                    return -XenErrno.EFAULT;
                op.Status = grants.GetStatusFrames(domain, op.Dom, op.NrFrames);
                return WriteBack(caller, uop, op, StatusField<GrantGetStatusFrames>());
            }
            case GrantTableOp.SetVersion:
            {
                if (caller.ReadGuest(uop, out GrantSetVersion op) != 0)
                    return -XenErrno.EFAULT;
                int rc = GrantTables.SetVersion(op.Version, out op.Version);
                return WriteBack(caller, uop, op, WholeStruct<GrantSetVersion>()) != 0 ? -XenErrno.EFAULT : rc;
            }
            case GrantTableOp.GetVersion:
            {
                if (caller.ReadGuest(uop, out GrantGetVersion op) != 0)
                    return -XenErrno.EFAULT;
                int rc = grants.GetVersion(domain, op.Dom, out op.Version);
                if (rc != 0)
                    return rc;
                return WriteBack(caller, uop, op, Field<GrantGetVersion>(nameof(GrantGetVersion.Version), sizeof(uint)));
            }
            default:
                // Including GNTTABOP_transfer (page ownership transfer is not built) and
                // GNTTABOP_dump_table (Xen itself no longer has it): what Xen answers for an op it lacks.
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>
    /// GNTTABOP_setup_table: one op (count must be 1). The frame list is range-checked first
    /// (-EFAULT); a frame that cannot be written makes the status GNTST_bad_virt_addr.
    /// </summary>
    private static long SetupTable(Vcpu caller, GrantTables grants, ulong uop, uint count)
    {
        if (count != 1)
            return -XenErrno.EINVAL;
        if (caller.ReadGuest(uop, out GrantSetupTable op) != 0)
            return -XenErrno.EFAULT;
        if (!IsGuestRange(op.FrameList, (ulong)op.NrFrames * sizeof(ulong)))
            return -XenErrno.EFAULT;
        op.Status = grants.SetupTable(caller.Domain, op.Dom, op.NrFrames, out ulong[] frames);
        for (int i = 0; i < frames.Length; i++)
        {
            if (caller.CopyToGuest(op.FrameList + (ulong)i * sizeof(ulong), MemoryMarshal.AsBytes(new ReadOnlySpan<ulong>(in frames[i]))) != 0)
                op.Status = GrantStatus.BadVirtAddr;
        }
        return WriteBack(caller, uop, op, StatusField<GrantSetupTable>());
    }

    /// <summary>
    /// The batched ops: the whole array is range-checked first (Xen's guest_handle_okay), then each
    /// op is read, run and its result written back; between ops a long batch yields.
    /// <paramref name="operation"/> returns 0, or a negative errno that ends the batch (cache_flush).
    /// </summary>
    private static long Batch<T>(Vcpu caller, in HypercallArguments args, ulong uop, uint count, (int Offset, int Length) writeBack, Operation<T> operation)
        where T : unmanaged
    {
        ulong size = (ulong)Unsafe.SizeOf<T>();
        if (!IsGuestRange(uop, count * size))
            return -XenErrno.EFAULT;
        for (uint i = 0; i < count; i++)
        {
            ulong va = uop + i * size;
            if (i > 0 && caller.ShouldPreemptHypercall())
            {
                caller.CreateContinuation(args with { Arg2 = va, Arg3 = count - i });
                return 0;
            }
            if (caller.ReadGuest(va, out T op) != 0)
                return -XenErrno.EFAULT;
            long rc = operation(caller, ref op);
            if (rc != 0)
                return rc;
            if (WriteBack(caller, va, op, writeBack) != 0)
                return -XenErrno.EFAULT;
            if (caller.Domain.IsDying)
                break;
        }
        return 0;
    }

    private static (int Offset, int Length) WholeStruct<T>() where T : unmanaged => (0, Unsafe.SizeOf<T>());

    /// <summary>The struct's status field, looked up once per type: Marshal.OffsetOf is reflection, too slow for every hypercall.</summary>
    private static (int Offset, int Length) StatusField<T>() where T : unmanaged => StatusFieldOf<T>.Value;

    private static class StatusFieldOf<T> where T : unmanaged
    {
        public static readonly (int Offset, int Length) Value = Field<T>("Status", sizeof(short));
    }

    private static (int Offset, int Length) Field<T>(string name, int length) where T : unmanaged => ((int)Marshal.OffsetOf<T>(name), length);

    /// <summary>Writes bytes [Offset, Offset + Length) of <paramref name="value"/> back to the guest's copy at <paramref name="va"/>: 0 or -EFAULT.</summary>
    private static int WriteBack<T>(Vcpu caller, ulong va, in T value, (int Offset, int Length) field) where T : unmanaged
    {
        if (field.Length == 0)
            return 0;
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)).Slice(field.Offset, field.Length);
        return caller.CopyToGuest(va + (ulong)field.Offset, bytes) != 0 ? -XenErrno.EFAULT : 0;
    }

    /// <summary>
    /// Xen's guest_handle_okay (access_ok) for a 64-bit PV guest: the range does not wrap, is
    /// canonical and stays clear of the hypervisor's slots. Whether it is mapped is found out by the copies.
    /// </summary>
    internal static bool IsGuestRange(ulong va, ulong length)
    {
        if (length == 0)
            return true;
        ulong last = va + length - 1;
        return last >= va && GuestPageTables.IsGuestAddress(va) && GuestPageTables.IsGuestAddress(last)
            && (va >> 47) == (last >> 47)
            && (last < X86Layout.HypervisorVirtStart || va >= X86Layout.HypervisorVirtEnd);
    }
}
