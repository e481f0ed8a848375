namespace Xenolith.Hypervisor.Pv.Emulation;

/// <summary>
/// The vCPU as the privileged-instruction emulator sees it at a #GP or #UD from the guest: the
/// interrupted context, guest memory through the current page tables, and the virtual state the
/// emulated instructions read and change. Implemented by <see cref="Vcpu"/>; faked in unit tests.
/// </summary>
public interface IEmulatedCpu
{
    /// <summary>The faulting context: Rip is the instruction to emulate; advance it past what was emulated.</summary>
    ref GuestFrame Frame { get; }

    /// <summary>General-purpose register by encoding number (0 rax, 1 rcx, 2 rdx, 3 rbx, 4 rsp, 5 rbp, 6 rsi, 7 rdi, 8-15 r8-r15).</summary>
    ulong ReadGpr(int index);

    /// <summary>Writes all 64 bits; callers apply x86's sub-register rules (32-bit writes zero-extend).</summary>
    void WriteGpr(int index, ulong value);

    bool InKernelMode { get; }

    /// <summary>Whether CS is a 64-bit code segment (else compatibility mode, 32-bit decoding).</summary>
    bool Is64BitCode { get; }

    int VcpuId { get; }

    /// <summary>Reads guest memory through the current page tables: 0, or -EFAULT for any fault.</summary>
    int CopyFromGuest(ulong va, Span<byte> destination);

    /// <summary>Writes guest memory through the current page tables: 0, or -EFAULT (nothing written).</summary>
    int CopyToGuest(ulong va, ReadOnlySpan<byte> source);

    /// <summary>Registered and virtual state: FpuTaskSwitched, Cr2, Iopl, debug registers, base pointers.</summary>
    PvVcpuState State { get; }

    /// <summary>Whether VMASST_TYPE_architectural_iopl is on (guest kernel then counts as ring 0 for IOPL).</summary>
    bool ArchitecturalIopl { get; }

    ulong FsBase { get; set; }

    /// <summary>The guest kernel's GS base (MSR_GS_BASE as a PV guest sees it).</summary>
    ulong GsBaseKernel { get; set; }

    /// <summary>The guest user GS base (MSR_SHADOW_GS_BASE as a PV guest kernel sees it).</summary>
    ulong GsBaseUser { get; set; }

    /// <summary>vcpu_info.evtchn_upcall_mask: cli sets it, sti clears it.</summary>
    bool EventsMasked { get; set; }

    /// <summary>The CR0 the guest reads: the real bits, with TS from <see cref="PvVcpuState.FpuTaskSwitched"/>.</summary>
    ulong Cr0 { get; }

    /// <summary>The CR4 the guest reads.</summary>
    ulong Cr4 { get; }

    /// <summary>The EFER the guest reads.</summary>
    ulong Efer { get; }

    /// <summary>The guest's time-stamp counter, as rdtsc at CPL3 would read it now.</summary>
    ulong ReadTsc();

    /// <summary>Sets virtual CR0.TS (and the real TS so the next FPU use traps): fpu_taskswitch.</summary>
    void SetFpuTaskSwitched(bool set);

    /// <summary>Xen's set_debugreg: 0, -ENODEV (#UD), -EINVAL or -EPERM (#GP).</summary>
    long SetDebugRegister(int register, ulong value);

    /// <summary>Xen's x86emul_read_dr: 0 and the value, or -ENODEV (#UD).</summary>
    long GetDebugRegister(int register, out ulong value);

    /// <summary>mov to %cr3: new_guest_cr3 with a machine frame number. False: refused (#GP).</summary>
    bool LoadKernelBasePointer(ulong mfn);

    /// <summary>wrmsr 0x40000000: fill guest frame <paramref name="gmfn"/> with the hypercall page. False: refused (#GP).</summary>
    bool WriteHypercallPage(ulong gmfn);

    /// <summary>The domain's CPUID policy (Xen leaves included).</summary>
    CpuidPolicy Cpuid { get; }

    /// <summary>Whether the domain may touch I/O port range [port, port+size) on real hardware (never, for unprivileged domains).</summary>
    bool IoPortPermitted(ushort port, int size);
}
