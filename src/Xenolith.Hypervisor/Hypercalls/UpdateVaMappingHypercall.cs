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
            if (!GuestPageTables.IsGuestAddress(va) || !TryFindL1(types, domain, caller.PageTableBase, va, out ulong l1))
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

    /// <summary>Xen's map_guest_l1e: the validated L1 of <paramref name="owner"/> that maps <paramref name="va"/>, if any.</summary>
    private static bool TryFindL1(PageTypes types, IPageTableOwner owner, ulong cr3, ulong va, out ulong l1)
    {
        l1 = 0;
        ulong table = cr3 >> MachineMemory.PageShift;
        for (int level = 4; level >= 2; level--)
        {
            if (!types.Memory.IsValidFrame(table))
                return false;
            ulong entry = types.Entries(table)[Pte.Index(va, level)];
            if ((entry & Pte.Present) == 0 || (level == 2 && (entry & Pte.LargePage) != 0))
                return false;
            table = Pte.Mfn(entry);
        }
        if (!types.Memory.IsValidFrame(table))
            return false;
        ref PageInfo page = ref types.Memory.Page(table);
        if (page.Owner != owner.Id || page.Type != FrameType.L1PageTable || !page.IsValidated || page.TypeCount == 0)
            return false;
        l1 = table;
        return true;
    }
}
