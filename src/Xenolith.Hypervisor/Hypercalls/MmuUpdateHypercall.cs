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
            return GuestBatch.Run<Request, Update>(caller, args, new Update(caller.Domain));
    }

    private readonly struct Update(Domain domain) : GuestBatch.IOperation<Request>
    {
        private readonly Domain _domain = domain;
        private readonly PageTypes _types = domain.Xen.PageTypes;

        public long Apply(Vcpu caller, in Request request)
        {
            int command = (int)(request.Pointer & 7);
            ulong pointer = request.Pointer & ~7UL;
            switch (command)
            {
                case MmuUpdate.NormalPtUpdate or MmuUpdate.PtUpdateNoTranslate or MmuUpdate.PtUpdatePreserveAd:
                    return _types.UpdateEntry(pointer, request.Value, command == MmuUpdate.PtUpdatePreserveAd, _domain);
                case MmuUpdate.MachphysUpdate:
                    ulong mfn = pointer >> MachineMemory.PageShift;
                    if (_types.Memory.OwnerOf(mfn) != _domain.Id)
                        return -XenErrno.EINVAL;
                    _types.Memory.SetMachineToPhys(mfn, request.Value);
                    return 0;
                default:
                    return -XenErrno.ENOSYS;
            }
        }
    }
}
