using System.Runtime.InteropServices;

namespace Xenolith.Kvm;

// Blittable mirrors of the x86 structures in linux/kvm.h. Field order and sizes are ABI.

/// <summary>struct kvm_regs.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRegs
{
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags;
}

/// <summary>struct kvm_segment.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSegment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type, Present, Dpl, Db, S, L, G, Avl, Unusable, Padding;
}

/// <summary>struct kvm_dtable.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDtable
{
    public ulong Base;
    public ushort Limit;
    private ushort _pad0, _pad1, _pad2;
}

/// <summary>struct kvm_sregs.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSregs
{
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer, ApicBase;
    public InterruptBitmap Interrupts;

    [System.Runtime.CompilerServices.InlineArray(4)]
    public struct InterruptBitmap { private ulong _element; }
}

/// <summary>struct kvm_userspace_memory_region.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmUserspaceMemoryRegion
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong UserspaceAddr;
}

/// <summary>struct kvm_cpuid_entry2.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmCpuidEntry2
{
    public uint Function, Index, Flags, Eax, Ebx, Ecx, Edx;
    private uint _pad0, _pad1, _pad2;
}

/// <summary>struct kvm_msr_entry.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrEntry
{
    public uint Index;
    private uint _reserved;
    public ulong Data;

    public KvmMsrEntry(uint index, ulong data)
    {
        Index = index;
        _reserved = 0;
        Data = data;
    }
}

/// <summary>The fixed header of struct kvm_run, up to the exit union.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmRunHeader
{
    public byte RequestInterruptWindow;
    public byte ImmediateExit;
    private byte _p0, _p1, _p2, _p3, _p4, _p5;
    public uint ExitReason;
    public byte ReadyForInterruptInjection;
    public byte IfFlag;
    public ushort Flags;
    public ulong Cr8;
    public ulong ApicBase;
}

/// <summary>kvm_run.io: the exit for an in/out instruction.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmIoExit
{
    public const byte DirectionIn = 0;
    public const byte DirectionOut = 1;

    public byte Direction;
    public byte Size;
    public ushort Port;
    public uint Count;
    public ulong DataOffset;
}

/// <summary>KVM exit reasons (KVM_EXIT_*) that Xenolith distinguishes.</summary>
public enum KvmExitReason : uint
{
    Unknown = 0,
    Exception = 1,
    Io = 2,
    Hypercall = 3,
    Debug = 4,
    Hlt = 5,
    Mmio = 6,
    IrqWindowOpen = 7,
    Shutdown = 8,
    FailEntry = 9,
    Intr = 10,
    InternalError = 17,
    SystemEvent = 24,
    X86Rdmsr = 29,
    X86Wrmsr = 30,
}

/// <summary>struct kvm_debugregs (KVM_GET/SET_DEBUGREGS): DR0-DR3, DR6, DR7; flags must be 0.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDebugRegs
{
    public AddressRegisters Db;
    public ulong Dr6, Dr7, Flags;
    private ReservedWords _reserved;

    [System.Runtime.CompilerServices.InlineArray(4)]
    public struct AddressRegisters { private ulong _element; }

    [System.Runtime.CompilerServices.InlineArray(9)]
    private struct ReservedWords { private ulong _element; }
}
