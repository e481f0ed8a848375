using Xenolith.Abi;

namespace Xenolith.Hypervisor.Pv;

/// <summary>
/// What a PV vCPU has registered with, or been told by, the hypervisor (Xen's struct pv_vcpu):
/// its virtual IDT, callbacks, kernel stack, virtual control and debug registers, I/O privilege,
/// and the kernel and user page-table bases. Only the vCPU's own thread touches it.
/// </summary>
public sealed class PvVcpuState
{
    /// <summary>The virtual IDT (set_trap_table). A zero address means no handler.</summary>
    public TrapInfo[] TrapTable { get; } = new TrapInfo[256];

    public ulong EventCallback { get; set; }
    public ulong FailsafeCallback { get; set; }
    public ulong SyscallCallback { get; set; }
    public ulong Syscall32Callback { get; set; }
    public ulong SysenterCallback { get; set; }
    public ulong NmiCallback { get; set; }
    public bool FailsafeDisablesEvents { get; set; }
    public bool SyscallDisablesEvents { get; set; }
    public bool Syscall32DisablesEvents { get; set; }
    public bool SysenterDisablesEvents { get; set; }

    /// <summary>The guest kernel stack exceptions from user mode land on (stack_switch).</summary>
    public ushort KernelSs { get; set; } = X86Layout.FlatKernelSs64;
    public ulong KernelSp { get; set; }

    /// <summary>
    /// The GS base of the mode not currently running (Xen keeps it in MSR_SHADOW_GS_BASE): the user
    /// base while in kernel mode, the kernel base while in user mode. The active base is live in the vCPU.
    /// </summary>
    public ulong InactiveGsBase { get; set; }

    /// <summary>Virtual CR0.TS (fpu_taskswitch, clts, mov to cr0): the next FPU use raises #NM in the guest.</summary>
    public bool FpuTaskSwitched { get; set; }

    /// <summary>Virtual CR2: the last page-fault address delivered (also written to vcpu_info.arch.cr2).</summary>
    public ulong Cr2 { get; set; }

    /// <summary>Virtual debug registers DR0-DR3, DR6, DR7, as set_debugreg validated them.</summary>
    public ulong[] DebugAddress { get; } = new ulong[4];
    public ulong Dr6 { get; set; } = 0xffff_0ff0;
    public ulong Dr7 { get; set; } = 0x400;

    /// <summary>Virtual IOPL, 0-3 (PHYSDEVOP_set_iopl): guest kernel mode counts as ring 1, user as ring 3.</summary>
    public int Iopl { get; set; }

    /// <summary>MMUEXT_SET_LDT: the guest's LDT (linear address, descriptor count); 0 entries for none.</summary>
    public ulong LdtBase { get; set; }
    public uint LdtEntries { get; set; }

    /// <summary>Machine frame of the L4 in use in guest kernel mode (MMUEXT_NEW_BASEPTR).</summary>
    public ulong KernelBaseMfn { get; set; }

    /// <summary>Machine frame of the L4 in use in guest user mode (MMUEXT_NEW_USER_BASEPTR); 0 until set.</summary>
    public ulong UserBaseMfn { get; set; }
}
