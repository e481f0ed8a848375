using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// mmuext_op (Xen's do_mmuext_op): pinning and unpinning page tables, the kernel and user page-table
/// bases, TLB and cache maintenance, the LDT, and clearing or copying a page.
/// TLB flushes have nothing to do: every page-table write the hypervisor makes is already visible
/// to the CPU before the guest runs again (see Vcpu.SyncShadowPageTables).
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
        lock (caller.Domain.Xen.Memory.SyncRoot)
            return GuestBatch.Run<Op, Executor>(caller, args, default);
    }

    private readonly struct Executor : GuestBatch.IOperation<Op>
    {
        public long Apply(Vcpu caller, in Op op) => Execute(caller, op);
    }

    private static long Execute(Vcpu caller, in Op op)
    {
        Domain domain = caller.Domain;
        PageTypes types = domain.Xen.PageTypes;
        switch ((int)op.Cmd)
        {
            case MmuextOp.PinL1Table or MmuextOp.PinL2Table or MmuextOp.PinL3Table or MmuextOp.PinL4Table:
                return types.Pin(op.Arg1, PageTableRules.TableType((int)op.Cmd + 1), domain);
            case MmuextOp.UnpinTable:
                return types.Unpin(op.Arg1, domain);
            case MmuextOp.NewBaseptr:
                return caller.SetKernelBasePointer(op.Arg1);
            case MmuextOp.NewUserBaseptr:
                return caller.SetUserBasePointer(op.Arg1);
            case MmuextOp.TlbFlushLocal or MmuextOp.TlbFlushAll or MmuextOp.InvlpgLocal or MmuextOp.InvlpgAll:
                return 0;
            case MmuextOp.TlbFlushMulti or MmuextOp.InvlpgMulti:
                return caller.ReadGuest(op.Arg2, out ulong _) == 0 ? 0 : -XenErrno.EINVAL;
            case MmuextOp.FlushCache:
                return -XenErrno.EACCES;  // needs I/O rights, which no domain here has
            case MmuextOp.FlushCacheGlobal:
                return -XenErrno.EINVAL;
            case MmuextOp.SetLdt:
                return SetLdt(caller, op.Arg1, (uint)op.Arg2);
            case MmuextOp.ClearPage:
                return WithWritablePage(types, domain, op.Arg1, destination => destination.Clear());
            case MmuextOp.CopyPage:
                return CopyPage(types, domain, op.Arg1, op.Arg2);
            case MmuextOp.MarkSuper or MmuextOp.UnmarkSuper:
                return -XenErrno.EOPNOTSUPP;
            default:
                return -XenErrno.ENOSYS;
        }
    }

    /// <summary>SET_LDT: a page-aligned guest address and at most 8192 entries (recorded; descriptors are loaded from the GDT only).</summary>
    private static long SetLdt(Vcpu caller, ulong address, uint entries)
    {
        ulong pointer = entries == 0 ? 0 : address;
        if ((pointer & (MachineMemory.PageSize - 1)) != 0 || (pointer != 0 && !GuestPageTables.IsGuestAddress(pointer)) || entries > MmuextOp.MaxLdtEntries)
            return -XenErrno.EINVAL;
        caller.Pv.LdtBase = pointer;
        caller.Pv.LdtEntries = entries;
        return 0;
    }

    private static long WithWritablePage(PageTypes types, Domain domain, ulong mfn, SpanAction action)
    {
        if (types.GetPageAndType(mfn, FrameType.Writable, domain) != 0)
            return -XenErrno.EINVAL;
        action(types.Memory.Frame(mfn));
        types.PutPageAndType(mfn, domain);
        return 0;
    }

    private static long CopyPage(PageTypes types, Domain domain, ulong destination, ulong source)
    {
        if (!types.GetPage(source, domain))
            return -XenErrno.EINVAL;
        try
        {
            return WithWritablePage(types, domain, destination, page => types.Memory.Frame(source).CopyTo(page));
        }
        finally
        {
            types.PutPage(source);
        }
    }

    private delegate void SpanAction(Span<byte> page);
}
