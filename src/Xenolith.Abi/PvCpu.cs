using System.Runtime.InteropServices;

namespace Xenolith.Abi;

/// <summary>struct trap_info (xen.h): one entry of the virtual IDT a PV guest registers with set_trap_table.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TrapInfo
{
    public const int Size = 16;

    /// <summary>flags bits 0-1: the lowest privilege level allowed to raise the vector with int n.</summary>
    public const byte FlagsDplMask = 3;

    /// <summary>flags bit 2: entering the handler masks events (an interrupt gate rather than a trap gate).</summary>
    public const byte FlagsDisablesEvents = 4;

    public byte Vector;
    public byte Flags;
    public ushort Cs;
    private uint _pad;
    public ulong Address;

    public readonly int Dpl => Flags & FlagsDplMask;
    public readonly bool DisablesEvents => (Flags & FlagsDisablesEvents) != 0;
}

/// <summary>callback.h: callback_op commands, callback types and flags.</summary>
public static class Callback
{
    public const int OpRegister = 0;
    public const int OpUnregister = 1;

    public const int TypeEvent = 0;
    public const int TypeFailsafe = 1;
    public const int TypeSyscall = 2;
    public const int TypeSysenterDeprecated = 3;
    public const int TypeNmi = 4;
    public const int TypeSysenter = 5;
    public const int TypeSyscall32 = 7;

    /// <summary>CALLBACKF_mask_events: entering the callback masks events.</summary>
    public const ushort FlagMaskEvents = 1;
}

/// <summary>struct callback_register: type and flags (uint16 each), then the 64-bit address at offset 8.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct CallbackRegister
{
    public ushort Type;
    public ushort Flags;
    private uint _pad;
    public ulong Address;
}

/// <summary>struct iret_context (arch-x86/xen-x86_64.h): what HYPERVISOR_iret finds at the guest's rsp.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct IretContext
{
    public const int Size = 72;

    /// <summary>VGCF_in_syscall: return as sysret would (rcx and r11 are clobbered, not restored).</summary>
    public const ulong FlagInSyscall = 1UL << 8;

    public ulong Rax, R11, Rcx, Flags, Rip, Cs, Rflags, Rsp, Ss;
}

/// <summary>set_segment_base selectors (SEGBASE_*).</summary>
public static class SegmentBase
{
    public const int Fs = 0;
    public const int GsUser = 1;
    public const int GsKernel = 2;
    public const int GsUserSelector = 3;
}

/// <summary>vcpu_guest_context flags a PV vCPU carries (VGCF_*).</summary>
public static class VcpuGuestContextFlags
{
    public const int FailsafeDisablesEventsBit = 3;
    public const int SyscallDisablesEventsBit = 4;
}

/// <summary>The layout of shared_info and of each vcpu_info in it (xen.h, x86-64).</summary>
public static class SharedInfoLayout
{
    /// <summary>shared_info holds vcpu_info for the first 32 vCPUs (XEN_LEGACY_MAX_VCPUS).</summary>
    public const int LegacyMaxVcpus = 32;
    public const int VcpuInfoSize = 64;

    // Offsets inside one vcpu_info.
    public const int UpcallPending = 0;
    public const int UpcallMask = 1;
    public const int PendingSelector = 8;
    public const int ArchCr2 = 16;
    public const int Time = 32;

    // Offsets inside shared_info.
    public const int EventChannelPending = 2048;
    public const int EventChannelMask = 2560;
    public const int WallclockVersion = 3072;
}

/// <summary>The Xen CPUID leaves (arch-x86/cpuid.h) at 0x40000000.</summary>
public static class XenCpuid
{
    public const uint FirstLeaf = 0x4000_0000;
    /// <summary>Leaves 0x40000000..0x40000005 (XEN_CPUID_MAX_NUM_LEAVES = 5).</summary>
    public const uint MaxLeafIndex = 5;
    public const uint SignatureEbx = 0x566e_6558; // "XenV"
    public const uint SignatureEcx = 0x6558_4d4d; // "MMXe"
    public const uint SignatureEdx = 0x4d4d_566e; // "nVMM"
    /// <summary>Leaf 3 ECX: MMU_PT_UPDATE_PRESERVE_AD is supported.</summary>
    public const uint Feature1MmuPtUpdatePreserveAd = 1;

    /// <summary>The hypervisor MSR base leaf 0x40000002 reports; writing MSR base+0 installs the hypercall page.</summary>
    public const uint HypercallPageMsr = 0x4000_0000;
}

/// <summary>The forced-emulation prefix PV guests put before cpuid: ud2; .ascii "xen".</summary>
public static class ForcedEmulation
{
    public static ReadOnlySpan<byte> Prefix => [0x0f, 0x0b, (byte)'x', (byte)'e', (byte)'n'];
}

/// <summary>physdev_op commands this hypervisor knows (physdev.h PHYSDEVOP_*).</summary>
public static class PhysdevOp
{
    public const int SetIopl = 6;
    public const int SetIobitmap = 7;
}
