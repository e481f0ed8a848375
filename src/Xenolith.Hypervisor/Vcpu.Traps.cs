using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Hypervisor.Pv.Emulation;

namespace Xenolith.Hypervisor;

// Exceptions from the guest: emulate, bounce to the guest's trap table, or crash the domain.
public sealed partial class Vcpu
{
    private const int VectorDebug = 1, VectorBreakpoint = 3, VectorOverflow = 4, VectorInvalidOpcode = 6;
    private const int VectorDeviceNotAvailable = 7, VectorGeneralProtection = 13, VectorPageFault = 14;
    private const int VectorInt80 = 0x80;

    /// <summary>Error-code bit 1 of #GP: the fault names an IDT entry (int n through a DPL-0 gate).</summary>
    private const ulong ErrorCodeIdt = 2;

    /// <summary>Page-fault error-code bit 2: the access came from user mode.</summary>
    private const ulong PageFaultUser = 4;

    private void HandleTrap(int vector)
    {
        ulong? address = Area.StackMachineAddress(_kvm.Regs.Rsp, TrapFrame.Size);
        if (address is null)
        {
            CrashWithDump($"trap {vector} with a frame outside the hypervisor stack");
            return;
        }
        TrapFrame trap = MemoryMarshal.Read<TrapFrame>(Domain.Xen.Memory.Block.GetSpan(address.Value, TrapFrame.Size));
        if (trap.Cpl == 0)
        {
            CrashWithDump($"{X86.VectorName(vector)} (vector {vector}) inside the trampoline", trap);
            return;
        }
        LoadFrameFromTrapStack(address.Value, trap);
        switch (vector)
        {
            case VectorGeneralProtection:
                GeneralProtection(trap.ErrorCode);
                break;
            case VectorInvalidOpcode:
                InvalidOpcode();
                break;
            case VectorDeviceNotAvailable:
                DeviceNotAvailable();
                break;
            case VectorPageFault:
                PageFault(trap.ErrorCode);
                break;
            case VectorDebug:
                DebugException();
                break;
            case VectorBreakpoint or VectorOverflow:
                // int3 and into reach the guest's handler whatever its DPL, as on Xen.
                InjectException(vector, null);
                break;
            case VectorInt80:
                SoftwareInterruptThroughGate(vector);
                break;
            case 2 or 8 or 18:
                CrashWithDump($"{X86.VectorName(vector)} (vector {vector}) from the guest");
                break;
            case < 32:
                InjectException(vector, TrampolineCode.HasErrorCode(vector) ? trap.ErrorCode : null);
                break;
            default:
                CrashWithDump($"unexpected interrupt vector {vector}");
                break;
        }
        StoreFrame();
    }

    /// <summary>
    /// #GP: an int n through a DPL-0 gate (delivered if the guest's trap table allows it), a
    /// sysenter, or a privileged instruction to emulate; anything else goes to the guest.
    /// </summary>
    private void GeneralProtection(ulong errorCode)
    {
        if ((errorCode & ErrorCodeIdt) != 0)
        {
            int n = (int)((errorCode >> 3) & 0xff);
            if (PermitSoftwareInterrupt(n))
            {
                EditFrame().Rip += 2;
                DeliverSoftwareInterrupt(n);
            }
            else
            {
                InjectException(VectorGeneralProtection, errorCode);
            }
            return;
        }
        if (errorCode != 0)
        {
            InjectException(VectorGeneralProtection, errorCode);
            return;
        }
        if (!InKernelMode && IsSysenterAtRip())
        {
            SysenterFromUser();
            return;
        }
        ApplyEmulation(PrivilegedOpEmulator.EmulateGeneralProtection(this));
    }

    private void InvalidOpcode()
    {
        // AMD CPUs raise #UD for sysenter in long mode.
        if (!InKernelMode && IsSysenterAtRip())
        {
            SysenterFromUser();
            return;
        }
        if (TryReadSoftwareInterruptAtRip(out int n))
        {
            SoftwareInterruptReportedAsInvalidOpcode(n);
            return;
        }
        ApplyEmulation(PrivilegedOpEmulator.EmulateInvalidOpcode(this));
    }

    /// <summary>
    /// PVM hosts (measured) report every <c>int $n</c> from CPL3 as #UD at the instruction, whatever
    /// the gate's DPL, where hardware delivers the DPL-3 gates (3, 4, 0x80) and raises #GP((n&lt;&lt;3)|2)
    /// for the rest. Recreate the hardware outcome so the guest sees what it would on Xen.
    /// </summary>
    private void SoftwareInterruptReportedAsInvalidOpcode(int n)
    {
        if (n is VectorBreakpoint or VectorOverflow)
        {
            EditFrame().Rip += 2;
            InjectException(n, null);
        }
        else if (PermitSoftwareInterrupt(n))
        {
            EditFrame().Rip += 2;
            DeliverSoftwareInterrupt(n);
        }
        else
        {
            InjectException(VectorGeneralProtection, ((ulong)n << 3) | ErrorCodeIdt);
        }
    }

    private bool TryReadSoftwareInterruptAtRip(out int vector)
    {
        Span<byte> bytes = stackalloc byte[2];
        vector = 0;
        if (CopyFromGuest(_frame.Rip, bytes) != 0 || bytes[0] != 0xcd)
            return false;
        vector = bytes[1];
        return true;
    }

    private void ApplyEmulation(EmulationOutcome outcome)
    {
        switch (outcome.Result)
        {
            case EmulationResult.Emulated:
                break;
            case EmulationResult.Halt:
                StoreFrame();
                BlockUntilEventPending();
                break;
            case EmulationResult.Fault:
                InjectException(outcome.Vector, outcome.ErrorCode is { } code ? (ulong)(uint)code : null);
                break;
        }
    }

    /// <summary>#NM: the guest's virtual CR0.TS was set, so it gets #NM and TS clears (Xen clears it on delivery).</summary>
    private void DeviceNotAvailable()
    {
        SetHardwareTs(false);
        if (!Pv.FpuTaskSwitched)
            return;  // stale hardware TS: just retry the instruction
        Pv.FpuTaskSwitched = false;
        InjectException(VectorDeviceNotAvailable, null);
    }

    /// <summary>#PF: CR2 to vcpu_info.arch.cr2 and virtual CR2; the U bit says guest user mode, not CPL.</summary>
    private void PageFault(ulong errorCode)
    {
        ulong cr2 = _kvm.Sregs.Cr2;
        if ((errorCode & PageFaultWriteProtectMask) == PageFaultWriteProtect && TryEmulatePageTableWrite(cr2))
            return;
        Pv.Cr2 = cr2;
        MemoryMarshal.Write(VcpuInfo[SharedInfoLayout.ArchCr2..], cr2);
        errorCode = (errorCode & ~PageFaultUser) | (InKernelMode ? 0 : PageFaultUser);
        InjectException(VectorPageFault, errorCode);
    }

    /// <summary>Error-code bits P, W, RSVD, I/D: a write to a present page, not a reserved-bit or fetch fault.</summary>
    private const ulong PageFaultWriteProtectMask = 1 | 2 | 8 | 16, PageFaultWriteProtect = 1 | 2;

    /// <summary>
    /// Xen's ptwr path: a guest kernel with VMASST_TYPE_writable_pagetables wrote into one of its
    /// own validated L1 tables through a read-only mapping. The store is emulated and committed
    /// through mod_l1_entry; false (the #PF goes to the guest) if it is not such a write or the
    /// new entry is refused.
    /// </summary>
    private bool TryEmulatePageTableWrite(ulong cr2)
    {
        if (!InKernelMode || !Domain.IsVmAssistEnabled(VmAssist.TypeWritablePagetables) || !GuestPageTables.IsGuestAddress(cr2))
            return false;
        PageTypes types = Domain.Xen.PageTypes;
        lock (types.Memory.SyncRoot)
        {
            if (!Memory.TryTranslate(_kvm.Sregs.Cr3, cr2, write: false, out ulong machineAddress)
                || Memory.TryTranslate(_kvm.Sregs.Cr3, cr2, write: true, out _))
                return false;
            ulong l1 = machineAddress >> MachineMemory.PageShift;
            ref PageInfo page = ref types.Memory.Page(l1);
            if (page.Owner != Domain.Id || page.Type != FrameType.L1PageTable || !page.IsValidated || page.TypeCount == 0)
                return false;
            return PageTableWriteEmulator.TryEmulate(this, cr2,
                entryAddress => types.Entries(l1)[Index(entryAddress)],
                (entryAddress, value) => types.ModifyEntry(l1, Index(entryAddress), value, 1, preserveAccessedDirty: false, Domain) == 0);
        }

        static int Index(ulong va) => (int)((va & (MachineMemory.PageSize - 1)) / sizeof(ulong));
    }

    private void DebugException()
    {
        Pv.Dr6 = _kvm.GetDebugRegs().Dr6;
        InjectException(VectorDebug, null);
    }

    /// <summary>int $0x80 arrives through its own DPL-3 gate (Xen's int80 direct trap); the trap table still decides.</summary>
    private void SoftwareInterruptThroughGate(int vector)
    {
        if (PermitSoftwareInterrupt(vector))
        {
            DeliverSoftwareInterrupt(vector);
            return;
        }
        EditFrame().Rip -= 2;  // as a #GP at the int instruction
        InjectException(VectorGeneralProtection, ((ulong)vector << 3) | ErrorCodeIdt);
    }

    /// <summary>Xen's permit_softint: the trap-table entry's DPL must admit the caller (kernel counts as ring 1).</summary>
    private bool PermitSoftwareInterrupt(int vector) => Pv.TrapTable[vector].Dpl >= (InKernelMode ? 1 : 3);

    private void DeliverSoftwareInterrupt(int vector)
    {
        TrapInfo entry = Pv.TrapTable[vector];
        Bounce(entry.Address, entry.DisablesEvents, null, $"int 0x{vector:x}");
    }

    /// <summary>Delivers a hardware exception to the guest's trap table (Xen's pv_inject_hw_exception).</summary>
    private void InjectException(int vector, ulong? errorCode)
    {
        TrapInfo entry = Pv.TrapTable[vector];
        Bounce(entry.Address, entry.DisablesEvents, errorCode, $"{X86.VectorName(vector)} (vector {vector})");
    }

    private bool IsSysenterAtRip()
    {
        Span<byte> opcode = stackalloc byte[2];
        return CopyFromGuest(_frame.Rip, opcode) == 0 && opcode[0] == 0x0f && opcode[1] == 0x34;
    }
}
