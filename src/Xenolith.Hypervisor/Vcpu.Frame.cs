using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Hypervisor.Pv.Descriptors;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

// The interrupted guest context, the guest kernel/user switch, exception frames and iret.
public sealed partial class Vcpu
{
    private enum FrameSource
    {
        /// <summary>The live registers (a hypercall-page or syscall exit at CPL3).</summary>
        Registers,

        /// <summary>The iret frame a trap stub left on the hypervisor stack; the stub's iretq consumes it.</summary>
        TrapStack,
    }

    private GuestFrame _frame;
    private FrameSource _frameSource;
    private ulong _trapFrameAddress;
    private bool _frameChanged;

    /// <summary>Eflags bits a bounce clears in the handler's context (Xen: TF, VM, RF, NT, and AC).</summary>
    private const ulong BounceClearedFlags = X86.RflagsTf | X86.RflagsVm | X86.RflagsRf | X86.RflagsNt | X86.RflagsAc;

    /// <summary>Whether this exit has loaded a guest context (crash reports then show it, not the trampoline's).</summary>
    private bool _frameLoaded;

    /// <summary>The CPU's error code of the trap being handled (0 for other exits): for crash reports.</summary>
    private ulong _trapErrorCode;

    /// <summary>Starts handling a guest context; <paramref name="changed"/> when it differs from where it came from.</summary>
    private void LoadFrame(FrameSource source, in GuestFrame frame, bool changed = false, ulong errorCode = 0)
    {
        _frameSource = source;
        _frame = frame;
        _frameChanged = changed;
        _frameLoaded = true;
        _trapErrorCode = errorCode;
    }

    private void LoadFrameFromRegisters()
    {
        ref KvmRegs regs = ref _kvm.Regs;
        ref KvmSregs sregs = ref _kvm.Sregs;
        LoadFrame(FrameSource.Registers,
            new GuestFrame { Rip = regs.Rip, Cs = sregs.Cs.Selector, Rflags = regs.Rflags, Rsp = regs.Rsp, Ss = sregs.Ss.Selector });
    }

    private void LoadFrameFromTrapStack(ulong machineAddress, in TrapFrame frame)
    {
        _trapFrameAddress = machineAddress;
        LoadFrame(FrameSource.TrapStack,
            new GuestFrame { Rip = frame.Rip, Cs = (ushort)frame.Cs, Rflags = frame.Rflags, Rsp = frame.Rsp, Ss = (ushort)frame.Ss },
            errorCode: frame.ErrorCode);
    }

    /// <summary>Marks the frame edited: it is written back before the guest resumes.</summary>
    private ref GuestFrame EditFrame()
    {
        _frameChanged = true;
        return ref _frame;
    }

    /// <summary>
    /// Writes the (possibly edited) frame back where it came from. The real IF always stays set (the
    /// virtual one is the event mask) and IOPL stays 0 (the virtual one is <see cref="PvVcpuState.Iopl"/>).
    /// </summary>
    private void StoreFrame()
    {
        if (!_frameChanged || _stop)
            return;
        ulong rflags = (_frame.Rflags & X86.RflagsGuestMask) | X86.RflagsReserved | X86.RflagsIf;
        if (_frameSource == FrameSource.TrapStack)
        {
            Span<byte> stack = Domain.Xen.Memory.Block.GetSpan(_trapFrameAddress, TrapFrame.Size);
            ref TrapFrame frame = ref MemoryMarshal.AsRef<TrapFrame>(stack);
            frame.Rip = _frame.Rip;
            frame.Cs = _frame.Cs;
            frame.Rflags = rflags;
            frame.Rsp = _frame.Rsp;
            frame.Ss = _frame.Ss;
            return;
        }
        ref KvmRegs regs = ref _kvm.Regs;
        regs.Rip = _frame.Rip;
        regs.Rflags = rflags;
        regs.Rsp = _frame.Rsp;
        _kvm.MarkRegsDirty();
        ref KvmSregs sregs = ref _kvm.Sregs;
        if (sregs.Cs.Selector == _frame.Cs && sregs.Ss.Selector == _frame.Ss && sregs.Cs.Dpl == 3)
            return;
        // A new CS or SS (iret to another segment, or hardware syscall that entered CPL0): load them
        // as the CPU would. The frame was validated when it was built, so failure here is our bug.
        if (!TryLoadSegment(_frame.Cs, SegmentLoad.Code, out KvmSegment cs) || !TryLoadSegment(_frame.Ss, SegmentLoad.Stack, out KvmSegment ss))
        {
            CrashWithDump($"cannot load cs {_frame.Cs:x4} / ss {_frame.Ss:x4} to resume the guest");
            return;
        }
        sregs.Cs = cs;
        sregs.Ss = ss;
        _kvm.MarkSregsDirty();
    }

    private bool TryLoadSegment(ushort selector, SegmentLoad kind, out KvmSegment segment)
    {
        segment = default;
        return Gdt.TryGetDescriptor(selector, out ulong descriptor) && SegmentDescriptor.TryLoad(selector, descriptor, kind, out segment);
    }

    /// <summary>
    /// Xen's toggle_guest_mode: switch between guest kernel and guest user mode. The page-table base
    /// changes to the other mode's L4 and the GS base swaps with the inactive one (what swapgs does
    /// for a native kernel). Costs a special-register write only when something actually changes.
    /// </summary>
    private void ToggleGuestMode()
    {
        ref KvmSregs sregs = ref _kvm.Sregs;
        InKernelMode = !InKernelMode;
        ulong cr3 = (InKernelMode ? Pv.KernelBaseMfn : Pv.UserBaseMfn) << MachineMemory.PageShift;
        ulong active = sregs.Gs.Base;
        if (cr3 == sregs.Cr3 && active == Pv.InactiveGsBase)
            return;
        sregs.Gs.Base = Pv.InactiveGsBase;
        Pv.InactiveGsBase = active;
        sregs.Cr3 = cr3;
        _kvm.MarkSregsDirty();
    }

    /// <summary>
    /// Xen's create_bounce_frame: push an exception frame { RCX, R11, [DS, ES, FS, GS,] [error code,]
    /// RIP, CS | saved mask &lt;&lt; 32, RFLAGS (IF = !saved mask), RSP, SS } on the guest kernel stack
    /// (the stack_switch stack when coming from user mode, in the kernel's page tables; the current
    /// stack, with CS's RPL cleared, from kernel mode) and resume the guest at <paramref name="handler"/>.
    /// A frame that cannot be written, or no handler, crashes only this domain.
    /// </summary>
    private bool Bounce(ulong handler, bool maskEvents, ulong? errorCode, string what, bool failsafe = false)
    {
        if (handler == 0)
        {
            CrashWithDump($"unhandled {what} in guest {(InKernelMode ? "kernel" : "user")} mode, no handler registered");
            return false;
        }
        if (!GuestPageTables.IsGuestAddress(handler))
        {
            // Xen would let the guest jump there and fault; refusing outright is as safe and clearer.
            CrashWithDump($"{what}: handler {handler:x16} lies inside the hypervisor's range");
            return false;
        }
        ushort savedCs = _frame.Cs;
        ulong stack;
        if (!InKernelMode)
        {
            ToggleGuestMode();
            stack = Pv.KernelSp;
        }
        else
        {
            stack = _frame.Rsp;
            savedCs &= 0xfffc;  // tells the guest the exception came from kernel context
        }
        stack &= ~0xfUL;

        Span<ulong> words = stackalloc ulong[11];
        int n = 0;
        ref KvmRegs regs = ref _kvm.Regs;
        words[n++] = regs.Rcx;
        words[n++] = regs.R11;
        if (failsafe)
        {
            ref KvmSregs sregs = ref _kvm.Sregs;
            words[n++] = sregs.Ds.Selector;
            words[n++] = sregs.Es.Selector;
            words[n++] = sregs.Fs.Selector;
            words[n++] = sregs.Gs.Selector;
        }
        if (errorCode is { } code)
            words[n++] = (uint)code;
        byte savedMask = VcpuInfo[SharedInfoLayout.UpcallMask];
        words[n++] = _frame.Rip;
        words[n++] = savedCs | ((ulong)savedMask << 32);
        words[n++] = (_frame.Rflags & ~X86.RflagsIf) | (savedMask == 0 ? X86.RflagsIf : 0);
        words[n++] = _frame.Rsp;
        words[n++] = _frame.Ss;

        ulong frameVa = stack - (ulong)(n * sizeof(ulong));
        if (!GuestPageTables.IsGuestAddress(stack) || CopyToGuest(frameVa, MemoryMarshal.AsBytes(words[..n])) != 0)
        {
            CrashWithDump($"fault writing the {what} frame to the guest kernel stack at {stack:x16}");
            return false;
        }
        if (maskEvents)
            VcpuInfo[SharedInfoLayout.UpcallMask] = 1;
        ref GuestFrame frame = ref EditFrame();
        frame.Rip = handler;
        frame.Cs = X86Layout.FlatKernelCs64;
        frame.Rflags &= ~BounceClearedFlags;
        frame.Rsp = frameVa;
        frame.Ss = X86Layout.FlatKernelSs64;
        return true;
    }

    /// <summary>A system call from guest user mode: to the syscall (or syscall32) callback, or #UD if none.</summary>
    private void SyscallFromUser(bool compat)
    {
        ulong callback = compat && Pv.Syscall32Callback != 0 ? Pv.Syscall32Callback : Pv.SyscallCallback;
        bool mask = compat && Pv.Syscall32Callback != 0 ? Pv.Syscall32DisablesEvents : Pv.SyscallDisablesEvents;
        if (callback == 0)
        {
            EditFrame().Rip -= 2;  // #UD at the syscall instruction, as Xen reports it
            InjectException(6, null);
            return;
        }
        // The PV ABI has no virtual SYSCALL_MASK: DF is cleared, other flags as for any bounce.
        EditFrame().Rflags &= ~X86.RflagsDf;
        Bounce(callback, mask, null, "system call");
    }

    /// <summary>
    /// sysenter from guest user mode (it faults here because SYSENTER_CS is 0). Xen loses the user
    /// context exactly so: the callback sees RIP 0, CS 3, RSP 0 and must find its way back itself.
    /// </summary>
    private void SysenterFromUser()
    {
        ref GuestFrame frame = ref EditFrame();
        frame.Ss = X86Layout.FlatUserSs64;
        frame.Rsp = 0;
        frame.Rflags &= ~(X86.RflagsVm | X86.RflagsIf);
        frame.Cs = 3;
        frame.Rip = 0;
        if (Pv.SysenterCallback == 0)
        {
            frame.Rip -= 2;
            InjectException(13, 0);
            return;
        }
        Bounce(Pv.SysenterCallback, Pv.SysenterDisablesEvents, null, "sysenter");
    }

    /// <summary>
    /// HYPERVISOR_iret: return from an exception or callback to the iret_context at the guest's rsp,
    /// switching to user mode when the saved CS has RPL 3. Returns the saved rax (the hypercall's result).
    /// </summary>
    internal long Iret()
    {
        if (ReadGuest(_frame.Rsp, out IretContext context) != 0)
        {
            CrashWithDump($"iret: the iret_context at {_frame.Rsp:x16} is not readable");
            return 0;
        }
        if ((context.Cs & 3) == 3)
        {
            if (Pv.UserBaseMfn == 0)
            {
                CrashWithDump("iret: guest switching to user mode with no user page tables");
                return 0;
            }
            ToggleGuestMode();
        }
        if (Domain.IsVmAssistEnabled(VmAssist.TypeArchitecturalIopl))
            Pv.Iopl = (int)((context.Rflags >> 12) & 3);

        ref GuestFrame frame = ref EditFrame();
        frame.Rip = context.Rip;
        frame.Cs = (ushort)(context.Cs | 3);
        frame.Rflags = (context.Rflags & ~(X86.RflagsIopl | X86.RflagsVm)) | X86.RflagsIf;
        frame.Rsp = context.Rsp;
        frame.Ss = (ushort)(context.Ss | 3);
        ref KvmRegs regs = ref _kvm.Regs;
        if ((context.Flags & IretContext.FlagInSyscall) == 0)
        {
            regs.R11 = context.R11;
            regs.Rcx = context.Rcx;
        }
        else
        {
            // Returned as sysret would: rcx and r11 carry the return address and flags.
            regs.Rcx = frame.Rip;
            regs.R11 = frame.Rflags;
        }
        _kvm.MarkRegsDirty();
        VcpuInfo[SharedInfoLayout.UpcallMask] = (byte)((context.Rflags & X86.RflagsIf) == 0 ? 1 : 0);

        if (!TryLoadSegment(frame.Cs, SegmentLoad.Code, out _) || !TryLoadSegment(frame.Ss, SegmentLoad.Stack, out _))
        {
            // Where Xen's own iretq would fault: the failsafe callback gets the bad frame.
            Bounce(Pv.FailsafeCallback, Pv.FailsafeDisablesEvents, null, $"iret to cs {frame.Cs:x4} ss {frame.Ss:x4} (failsafe callback)", failsafe: true);
        }
        return (long)context.Rax;
    }

    /// <summary>
    /// MMUEXT_NEW_BASEPTR / mov to %cr3: a new kernel L4, which holds an L4 type reference (and is
    /// validated by taking it) for as long as it is the base. Returns 0 or Xen's error.
    /// </summary>
    internal int SetKernelBasePointer(ulong mfn)
    {
        if (mfn == Pv.KernelBaseMfn)
            return 0;
        int rc = ReplaceBaseReference(Pv.KernelBaseMfn, mfn);
        if (rc != 0)
            return rc;
        Pv.KernelBaseMfn = mfn;
        if (InKernelMode)
            SetCr3(mfn);
        return 0;
    }

    /// <summary>MMUEXT_NEW_USER_BASEPTR: the L4 for guest user mode; 0 clears it.</summary>
    internal int SetUserBasePointer(ulong mfn)
    {
        if (mfn == Pv.UserBaseMfn)
            return 0;
        int rc = ReplaceBaseReference(Pv.UserBaseMfn, mfn);
        if (rc != 0)
            return rc;
        Pv.UserBaseMfn = mfn;
        if (!InKernelMode && mfn != 0)
            SetCr3(mfn);
        return 0;
    }

    /// <summary>Takes the new base's L4 reference before dropping the old one's (0 means none).</summary>
    private int ReplaceBaseReference(ulong oldMfn, ulong newMfn)
    {
        PageTypes types = Domain.Xen.PageTypes;
        lock (types.Memory.SyncRoot)
        {
            if (newMfn != 0)
            {
                int rc = types.GetPageAndType(newMfn, FrameType.L4PageTable, Domain);
                if (rc != 0)
                    return rc;
            }
            if (oldMfn != 0)
                types.PutPageAndType(oldMfn, Domain);
        }
        return 0;
    }

    private void SetCr3(ulong mfn)
    {
        ref KvmSregs sregs = ref _kvm.Sregs;
        ulong cr3 = mfn << MachineMemory.PageShift;
        if (sregs.Cr3 == cr3)
            return;
        sregs.Cr3 = cr3;
        _kvm.MarkSregsDirty();
    }

    /// <summary>vcpu_info.evtchn_upcall_mask, the guest's virtual interrupt flag.</summary>
    public bool EventsMasked
    {
        get => VcpuInfo[SharedInfoLayout.UpcallMask] != 0;
        set => VcpuInfo[SharedInfoLayout.UpcallMask] = (byte)(value ? 1 : 0);
    }
}
