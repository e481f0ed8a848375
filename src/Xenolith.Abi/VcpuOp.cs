using System.Runtime.InteropServices;

namespace Xenolith.Abi;

/// <summary>vcpu_op commands (vcpu.h VCPUOP_*).</summary>
public static class VcpuOp
{
    public const int Initialise = 0;
    public const int Up = 1;
    public const int Down = 2;
    public const int IsUp = 3;
    public const int GetRunstateInfo = 4;
    public const int RegisterRunstateMemoryArea = 5;
    public const int SetPeriodicTimer = 6;
    public const int StopPeriodicTimer = 7;
    public const int SetSingleshotTimer = 8;
    public const int StopSingleshotTimer = 9;
    public const int RegisterVcpuInfo = 10;
    public const int SendNmi = 11;
    public const int GetPhysid = 12;
    public const int RegisterVcpuTimeMemoryArea = 13;

    /// <summary>VCPU_SSHOTTMR_future: a deadline already past gets -ETIME.</summary>
    public const uint SingleshotFuture = 1;
}

/// <summary>RUNSTATE_* (vcpu.h).</summary>
public enum Runstate
{
    Running = 0,
    Runnable = 1,
    Blocked = 2,
    Offline = 3,
}

/// <summary>struct vcpu_runstate_info: int state; then (8-aligned) state_entry_time and time[4]. 48 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VcpuRunstateInfo
{
    public const int Size = 48;

    public int State;
    private int _pad;
    public ulong StateEntryTime;
    public ulong TimeRunning, TimeRunnable, TimeBlocked, TimeOffline;
}

/// <summary>struct vcpu_set_singleshot_timer: uint64 timeout_abs_ns; uint32 flags (16 bytes with padding).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VcpuSetSingleshotTimer
{
    public ulong TimeoutAbsNs;
    public uint Flags;
    private uint _pad;
}

/// <summary>struct vcpu_register_vcpu_info: uint64 mfn; uint32 offset; uint32 rsvd.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct VcpuRegisterVcpuInfo
{
    public ulong Mfn;
    public uint Offset;
    public uint Reserved;
}

/// <summary>
/// The x86-64 struct vcpu_guest_context (arch-x86/xen.h) VCPUOP_initialise reads: 512 bytes of FPU
/// state, flags, cpu_user_regs, the virtual IDT, LDT and GDT, the kernel stack, control and debug
/// registers, the callbacks, vm_assist and the segment bases. 5168 bytes; offsets below.
/// </summary>
public static class VcpuGuestContext
{
    public const int Size = 5168;

    public const int Flags = 512;
    public const int UserRegs = 520;
    public const int TrapContext = 720;
    public const int LdtBase = 4816;
    public const int LdtEntries = 4824;
    public const int GdtFrames = 4832;
    public const int GdtFrameCount = 16;
    public const int GdtEntries = 4960;
    public const int KernelSs = 4968;
    public const int KernelSp = 4976;
    public const int ControlRegisters = 4984;
    public const int DebugRegisters = 5048;
    public const int DebugRegisterCount = 8;
    public const int EventCallback = 5112;
    public const int FailsafeCallback = 5120;
    public const int SyscallCallback = 5128;
    public const int VmAssist = 5136;
    public const int FsBase = 5144;
    public const int GsBaseKernel = 5152;
    public const int GsBaseUser = 5160;

    /// <summary>VGCF_in_kernel: the vCPU starts in guest kernel mode.</summary>
    public const ulong FlagInKernel = 1 << 2;
    public const ulong FlagFailsafeDisablesEvents = 1 << 3;
    public const ulong FlagSyscallDisablesEvents = 1 << 4;
}

/// <summary>
/// The x86-64 struct cpu_user_regs (arch-x86/xen-x86_64.h): r15 .. rdi, error code and entry
/// vector, rip, cs (+ saved_upcall_mask), rflags, rsp, ss, es, ds, fs, gs. 200 bytes.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct CpuUserRegs
{
    public const int Size = 200;

    public ulong R15, R14, R13, R12, Rbp, Rbx, R11, R10, R9, R8, Rax, Rcx, Rdx, Rsi, Rdi;
    public uint ErrorCode, EntryVector;
    public ulong Rip;
    public ushort Cs;
    private ushort _pad0;
    public byte SavedUpcallMask;
    private byte _pad1, _pad2, _pad3;
    public ulong Rflags, Rsp;
    public ushort Ss;
    private ushort _pad4, _pad5, _pad6;
    public ushort Es;
    private ushort _pad7, _pad8, _pad9;
    public ushort Ds;
    private ushort _pad10, _pad11, _pad12;
    public ushort Fs;
    private ushort _pad13, _pad14, _pad15;
    public ushort Gs;
    private ushort _pad16, _pad17, _pad18;
}
