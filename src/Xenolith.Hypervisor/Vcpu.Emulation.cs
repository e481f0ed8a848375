using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;
using Xenolith.Hypervisor.Pv.Descriptors;
using Xenolith.Hypervisor.Pv.Emulation;
using Xenolith.Kvm;

namespace Xenolith.Hypervisor;

// The vCPU as the privileged-instruction emulator and the CPU-state hypercalls see it.
public sealed partial class Vcpu : IEmulatedCpu
{
    ref GuestFrame IEmulatedCpu.Frame => ref EditFrame();

    /// <summary>Encoding order rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15; rsp is the guest's, from the frame.</summary>
    ulong IEmulatedCpu.ReadGpr(int index)
    {
        ref KvmRegs r = ref _kvm.Regs;
        return index switch
        {
            0 => r.Rax, 1 => r.Rcx, 2 => r.Rdx, 3 => r.Rbx, 4 => _frame.Rsp, 5 => r.Rbp, 6 => r.Rsi, 7 => r.Rdi,
            8 => r.R8, 9 => r.R9, 10 => r.R10, 11 => r.R11, 12 => r.R12, 13 => r.R13, 14 => r.R14, 15 => r.R15,
            _ => throw new ArgumentOutOfRangeException(nameof(index)),
        };
    }

    void IEmulatedCpu.WriteGpr(int index, ulong value)
    {
        if (index == 4)
        {
            EditFrame().Rsp = value;
            return;
        }
        ref KvmRegs r = ref _kvm.Regs;
        switch (index)
        {
            case 0: r.Rax = value; break;
            case 1: r.Rcx = value; break;
            case 2: r.Rdx = value; break;
            case 3: r.Rbx = value; break;
            case 5: r.Rbp = value; break;
            case 6: r.Rsi = value; break;
            case 7: r.Rdi = value; break;
            case 8: r.R8 = value; break;
            case 9: r.R9 = value; break;
            case 10: r.R10 = value; break;
            case 11: r.R11 = value; break;
            case 12: r.R12 = value; break;
            case 13: r.R13 = value; break;
            case 14: r.R14 = value; break;
            case 15: r.R15 = value; break;
            default: throw new ArgumentOutOfRangeException(nameof(index));
        }
        _kvm.MarkRegsDirty();
    }

    bool IEmulatedCpu.Is64BitCode => _frame.Cs == X86Layout.FlatRing3Cs64 || !TryLoadSegment(_frame.Cs, SegmentLoad.Code, out KvmSegment cs) || cs.L == 1;

    int IEmulatedCpu.VcpuId => Id;

    PvVcpuState IEmulatedCpu.State => Pv;

    bool IEmulatedCpu.ArchitecturalIopl => Domain.IsVmAssistEnabled(VmAssist.TypeArchitecturalIopl);

    /// <summary>The live FS base (FS is not swapped between guest kernel and user mode).</summary>
    public ulong FsBase
    {
        get => _kvm.Sregs.Fs.Base;
        set
        {
            _kvm.Sregs.Fs.Base = value;
            _kvm.MarkSregsDirty();
        }
    }

    /// <summary>The guest kernel's GS base: live in kernel mode, parked in <see cref="PvVcpuState.InactiveGsBase"/> in user mode.</summary>
    public ulong GsBaseKernel
    {
        get => InKernelMode ? _kvm.Sregs.Gs.Base : Pv.InactiveGsBase;
        set => SetGsBase(kernel: true, value);
    }

    /// <summary>The guest user GS base: parked while in kernel mode, live in user mode.</summary>
    public ulong GsBaseUser
    {
        get => InKernelMode ? Pv.InactiveGsBase : _kvm.Sregs.Gs.Base;
        set => SetGsBase(kernel: false, value);
    }

    private void SetGsBase(bool kernel, ulong value)
    {
        if (kernel == InKernelMode)
        {
            _kvm.Sregs.Gs.Base = value;
            _kvm.MarkSregsDirty();
        }
        else
        {
            Pv.InactiveGsBase = value;
        }
    }

    /// <summary>SEGBASE_GS_USER_SEL: load the user %gs selector; a selector that cannot be loaded becomes null, as on Xen.</summary>
    internal void LoadUserGsSelector(ushort selector)
    {
        if (selector > 3)
            selector |= 3;
        if (selector <= 3 || !TryLoadSegment(selector, SegmentLoad.Data, out KvmSegment gs))
            gs = new KvmSegment { Unusable = 1 };
        // The selector is shared by both modes; the user base comes from the descriptor.
        ulong kernelBase = GsBaseKernel;
        _kvm.Sregs.Gs = gs;
        _kvm.Sregs.Gs.Base = InKernelMode ? kernelBase : gs.Base;
        if (InKernelMode)
            Pv.InactiveGsBase = gs.Base;
        _kvm.MarkSregsDirty();
    }

    ulong IEmulatedCpu.Cr0 => (_kvm.Sregs.Cr0 & ~X86.Cr0Ts) | (Pv.FpuTaskSwitched ? X86.Cr0Ts : 0);

    ulong IEmulatedCpu.Cr4 => _kvm.Sregs.Cr4;

    ulong IEmulatedCpu.Efer => _kvm.Sregs.Efer;

    ulong IEmulatedCpu.ReadTsc() => _kvm.GetMsr(X86.MsrTsc);

    /// <summary>fpu_taskswitch, clts, mov to %cr0: virtual TS, mirrored in the real CR0 so the next FPU use traps.</summary>
    public void SetFpuTaskSwitched(bool set)
    {
        Pv.FpuTaskSwitched = set;
        SetHardwareTs(set);
    }

    private void SetHardwareTs(bool set)
    {
        ref KvmSregs sregs = ref _kvm.Sregs;
        ulong cr0 = set ? sregs.Cr0 | X86.Cr0Ts : sregs.Cr0 & ~X86.Cr0Ts;
        if (cr0 == sregs.Cr0)
            return;
        sregs.Cr0 = cr0;
        _kvm.MarkSregsDirty();
    }

    /// <summary>set_debugreg and mov to %dr: Xen's validation, then the registers go to the real vCPU.</summary>
    public long SetDebugRegister(int register, ulong value)
    {
        long rc = DebugRegisters.Set(Pv, register, value);
        if (rc == 0)
        {
            var regs = new KvmDebugRegs { Dr6 = Pv.Dr6, Dr7 = Pv.Dr7 };
            for (int i = 0; i < 4; i++)
                regs.Db[i] = Pv.DebugAddress[i];
            _kvm.SetDebugRegs(regs);
        }
        return rc;
    }

    public long GetDebugRegister(int register, out ulong value) => DebugRegisters.Get(Pv, register, out value);

    bool IEmulatedCpu.LoadKernelBasePointer(ulong mfn) => SetKernelBasePointer(mfn) == 0;

    /// <summary>wrmsr 0x40000000: the hypercall page, into a frame the domain owns and may write.</summary>
    bool IEmulatedCpu.WriteHypercallPage(ulong gmfn)
    {
        MachineMemory memory = Domain.Xen.Memory;
        if (memory.OwnerOf(gmfn) != Domain.Id || memory.TypeOf(gmfn) is not (FrameType.None or FrameType.Writable))
            return false;
        HypercallPage.Write(memory.Frame(gmfn));
        return true;
    }

    CpuidPolicy IEmulatedCpu.Cpuid => Domain.Xen.CpuidPolicy;

    /// <summary>Unprivileged domains own no I/O ports.</summary>
    bool IEmulatedCpu.IoPortPermitted(ushort port, int size) => false;
}
