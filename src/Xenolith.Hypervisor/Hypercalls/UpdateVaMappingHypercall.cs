using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// update_va_mapping (and _otherdomain): replace the L1 entry that maps a virtual address in the
/// caller's current page tables, validated as mmu_update would, then flush as the flags ask.
/// </summary>
public static class UpdateVaMappingHypercall
{
    public static void Register(HypercallTable table)
    {
        table.Register(Hypercall.UpdateVaMapping, Handle);
        table.Register(Hypercall.UpdateVaMappingOtherdomain, HandleOtherDomain);
    }

    private static long Handle(Vcpu caller, in HypercallArguments args) => Update(caller, args.Arg1, args.Arg2, args.Arg3);

    private static long HandleOtherDomain(Vcpu caller, in HypercallArguments args)
    {
        ushort domid = (ushort)args.Arg4;
        if (domid != DomainIds.Self && domid != caller.Domain.Id)
            return caller.Domain.Xen.FindDomain(domid) is null ? -XenErrno.ESRCH : -XenErrno.EPERM;
        return Update(caller, args.Arg1, args.Arg2, args.Arg3);
    }

    private static long Update(Vcpu caller, ulong va, ulong value, ulong flags)
    {
        Domain domain = caller.Domain;
        PageTypes types = domain.Xen.PageTypes;
        lock (types.Memory.SyncRoot)
        {
            if (!types.TryFindL1(caller.PageTableBase, va, domain, out ulong l1))
                return -XenErrno.EINVAL;
            int rc = types.ModifyEntry(l1, Pte.Index(va, 1), value, 1, preserveAccessedDirty: false, domain);
            if (rc != 0)
                return rc;
        }
        ulong target = flags & ~Uvmf.FlushTypeMask;
        if (target != Uvmf.Local && target != Uvmf.All && caller.ReadGuest(target, out ulong _) != 0)
            return -XenErrno.EFAULT;
        return 0;
    }
}
