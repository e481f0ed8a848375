using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

// Making the CPU's view of the page tables follow the hypervisor's writes to them.
public sealed partial class Vcpu
{
    /// <summary>Entries of the per-vCPU list page the stub walks in one pass (the last quadword is its exit flag).</summary>
    private const int ShadowSyncListCapacity = TrampolineCode.ShadowSyncExitFlagOffset / sizeof(ulong);

    /// <summary>
    /// Before the guest runs again, makes KVM see the page-table writes the hypervisor made while
    /// handling this exit (<see cref="Domain.TakeShadowSyncs"/>). On software-MMU hosts KVM keeps
    /// shadow page tables in sync by tracking *guest* writes only, so each written quadword is
    /// rewritten by the guest's own vCPU, at CPL0 in the shadow-sync stub, which then returns to the
    /// guest through an iret frame; no extra exit is taken. See <see cref="TrampolineCode.WriteShadowSyncPage"/>.
    /// </summary>
    private void SyncShadowPageTables()
    {
        List<ulong>? writes = Domain.TakeShadowSyncs();
        if (writes is null)
            return;
        ref KvmRegs regs = ref _kvm.Regs;
        ref KvmSregs sregs = ref _kvm.Sregs;
        bool atCpl0 = sregs.Cs.Dpl == 0;
        if (atCpl0 && regs.Rip - HypervisorLayout.StubsVa >= MachineMemory.PageSize && !_atShadowSyncExit)
        {
            // Interrupted inside the stub itself (a signal): it runs again on the next exit.
            Domain.RequeueShadowSyncs(writes);
            return;
        }
        if (writes.Count > ShadowSyncListCapacity)
        {
            Domain.DropAllShadows();
            return;
        }
        Span<ulong> list = MemoryMarshal.Cast<byte, ulong>(Domain.Xen.Memory.Frame(Area.ShadowSyncListMfn));
        for (int i = 0; i < writes.Count; i++)
            list[i] = HypervisorLayout.DirectmapVa(writes[i]);
        ShadowSyncExitFlag = 0;

        // Stack: [rcx rdi rsi rax] [error code] [iret frame]. A trap stub already holds the last two.
        ulong top;
        if (atCpl0)
        {
            top = regs.Rsp;
        }
        else
        {
            top = Area.StackTopVa - (ulong)TrapFrame.Size;
            Span<ulong> frame = Stack(top, TrapFrame.Size / sizeof(ulong));
            frame[0] = 0;
            frame[1] = regs.Rip;
            frame[2] = sregs.Cs.Selector;
            frame[3] = regs.Rflags;
            frame[4] = regs.Rsp;
            frame[5] = sregs.Ss.Selector;
            sregs.Cs = FlatSegment(HypervisorLayout.HypervisorCs, type: 0xb, longMode: true, dpl: 0);
            sregs.Ss = FlatSegment(HypervisorLayout.HypervisorDs, type: 0x3, longMode: false, dpl: 0);
            _kvm.MarkSregsDirty();
        }
        ulong saved = top - TrampolineCode.ShadowSyncSavedRegisters * sizeof(ulong);
        Span<ulong> words = Stack(saved, TrampolineCode.ShadowSyncSavedRegisters);
        words[0] = regs.Rcx;
        words[1] = regs.Rdi;
        words[2] = regs.Rsi;
        words[3] = regs.Rax;
        regs.Rsp = saved;
        regs.Rip = HypervisorLayout.ShadowSyncVa;
        regs.Rsi = Area.ShadowSyncListVa;
        regs.Rcx = (ulong)writes.Count;
        regs.Rflags = X86.RflagsReserved;
        _kvm.MarkRegsDirty();
    }

    private Span<ulong> Stack(ulong va, int words) =>
        MemoryMarshal.Cast<byte, ulong>(Domain.Xen.Memory.Block.GetSpan(
            Area.StackMachineAddress(va, words * sizeof(ulong)) ?? throw new InvalidOperationException("shadow-sync frame off the hypervisor stack"),
            words * sizeof(ulong)));

    /// <summary>The shadow-sync stub is running (a kick interrupted it): make it exit before it returns to the guest.</summary>
    private void RequestExitFromShadowSync() => ShadowSyncExitFlag = 1;

    /// <summary>The last quadword of the list page: non-zero makes the stub exit before its iretq.</summary>
    private ref ulong ShadowSyncExitFlag =>
        ref MemoryMarshal.Cast<byte, ulong>(Domain.Xen.Memory.Frame(Area.ShadowSyncListMfn))[ShadowSyncListCapacity];

    /// <summary>
    /// The shadow-sync stub exited before its iretq because a kick interrupted it: its trap frame
    /// (error-code slot and iret frame) is at rsp, so the pending upcall can be delivered through it.
    /// </summary>
    private void ShadowSyncExit()
    {
        ShadowSyncExitFlag = 0;
        ulong? address = Area.StackMachineAddress(_kvm.Regs.Rsp, TrapFrame.Size);
        if (address is null)
        {
            CrashWithDump("shadow-sync exit with a frame outside the hypervisor stack");
            return;
        }
        _atShadowSyncExit = true;
        LoadFrameFromTrapStack(address.Value, MemoryMarshal.Read<TrapFrame>(Domain.Xen.Memory.Block.GetSpan(address.Value, TrapFrame.Size)));
    }

    private bool _atShadowSyncExit;

    private bool IsInShadowSyncStub => _kvm.Sregs.Cs.Dpl == 0 && _kvm.Regs.Rip - HypervisorLayout.ShadowSyncVa < MachineMemory.PageSize;
}
