using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Hypercalls;

/// <summary>
/// mmu_update: a batch of page-table writes, each validated (Xen's do_mmu_update). A write into a
/// live page table goes through mod_lN_entry; one into any other frame the caller may write is a
/// plain store; MMU_MACHPHYS_UPDATE sets the caller's M2P entry for a frame it owns.
/// </summary>
public static class MmuUpdateHypercall
{
    public static void Register(HypercallTable table) => table.Register(Hypercall.MmuUpdate, Handle);

    [StructLayout(LayoutKind.Sequential)]
    private struct Request
    {
        public ulong Pointer;
        public ulong Value;
    }

    private static long Handle(Vcpu caller, in HypercallArguments args)
    {
        lock (caller.Domain.Xen.Memory.SyncRoot)
            return GuestBatch.Run<Request>(caller, args, Apply);
    }

    private static long Apply(Vcpu caller, in Request request)
    {
        Domain domain = caller.Domain;
        PageTypes types = domain.Xen.PageTypes;
        int command = (int)(request.Pointer & 7);
        ulong pointer = request.Pointer & ~7UL;
        switch (command)
        {
            case MmuUpdate.NormalPtUpdate or MmuUpdate.PtUpdateNoTranslate or MmuUpdate.PtUpdatePreserveAd:
                return types.UpdateEntry(pointer, request.Value, command == MmuUpdate.PtUpdatePreserveAd, domain);
            case MmuUpdate.MachphysUpdate:
                ulong mfn = pointer >> MachineMemory.PageShift;
                if (types.Memory.OwnerOf(mfn) != domain.Id)
                    return -XenErrno.EINVAL;
                types.Memory.SetMachineToPhys(mfn, request.Value);
                return 0;
            default:
                return -XenErrno.ENOSYS;
        }
    }
}
