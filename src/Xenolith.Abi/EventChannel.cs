using System.Runtime.InteropServices;

namespace Xenolith.Abi;

/// <summary>event_channel_op commands (event_channel.h EVTCHNOP_*).</summary>
public static class EventChannelOp
{
    public const int BindInterdomain = 0;
    public const int BindVirq = 1;
    public const int BindPirq = 2;
    public const int Close = 3;
    public const int Send = 4;
    public const int Status = 5;
    public const int AllocUnbound = 6;
    public const int BindIpi = 7;
    public const int BindVcpu = 8;
    public const int Unmask = 9;
    public const int Reset = 10;
    public const int InitControl = 11;
    public const int ExpandArray = 12;
    public const int SetPriority = 13;
}

/// <summary>The 2-level event channel ABI: one pending and one mask bit per port in shared_info, one selector bit per word.</summary>
public static class TwoLevelEventChannels
{
    /// <summary>BITS_PER_EVTCHN_WORD on x86-64: a selector bit covers one 64-bit word of pending bits.</summary>
    public const int BitsPerWord = 64;

    /// <summary>The ABI's port count (64 selector bits x 64 ports per word).</summary>
    public const int MaxPorts = BitsPerWord * BitsPerWord;
}

/// <summary>Virtual IRQs (xen.h VIRQ_*). "V" ones are per vCPU; the others are global.</summary>
public static class Virq
{
    public const int Timer = 0;        // V
    public const int Debug = 1;        // V
    public const int Console = 2;      // G (dom0)
    public const int DomExc = 3;       // G (dom0)
    public const int Tbuf = 4;         // G (dom0)
    public const int Debugger = 6;     // G (dom0)
    public const int Xenoprof = 7;     // V
    public const int ConRing = 8;      // G (dom0)
    public const int PcpuState = 9;    // G (dom0)
    public const int MemEvent = 10;    // G (dom0)
    public const int Argo = 11;        // G
    public const int Enomem = 12;      // G (dom0)
    public const int Xenpmu = 13;      // V
    /// <summary>VIRQ_ARCH_0..7 (16-23); on x86 every one of them is global (VIRQ_MCA is ARCH_0).</summary>
    public const int Arch0 = 16;

    /// <summary>NR_VIRQS.</summary>
    public const int Count = 24;

    private const uint PerVcpuMask = 1u << Timer | 1u << Debug | 1u << Xenoprof | 1u << Xenpmu;

    /// <summary>Xen's virq_is_global (for virq &lt; <see cref="Count"/>): a global VIRQ has one binding per domain, made on vCPU 0.</summary>
    public static bool IsGlobal(int virq) => (PerVcpuMask & 1u << virq) == 0;
}

/// <summary>struct evtchn_alloc_unbound (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EventChannelAllocUnbound
{
    public ushort Dom;
    public ushort RemoteDom;
    public uint Port;
}

/// <summary>struct evtchn_bind_interdomain (12 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EventChannelBindInterdomain
{
    public ushort RemoteDom;
    private ushort _pad;
    public uint RemotePort;
    public uint LocalPort;
}

/// <summary>struct evtchn_bind_virq (12 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EventChannelBindVirq
{
    public uint Virq;
    public uint Vcpu;
    public uint Port;
}

/// <summary>struct evtchn_bind_pirq (12 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EventChannelBindPirq
{
    public uint Pirq;
    public uint Flags;
    public uint Port;
}

/// <summary>struct evtchn_bind_ipi (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EventChannelBindIpi
{
    public uint Vcpu;
    public uint Port;
}

/// <summary>struct evtchn_close, evtchn_send and evtchn_unmask: each only a port (4 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EventChannelPortArgument
{
    public uint Port;
}

/// <summary>What EVTCHNOP_status reports a port to be (EVTCHNSTAT_*).</summary>
public static class EvtchnStat
{
    public const uint Closed = 0;
    public const uint Unbound = 1;
    public const uint Interdomain = 2;
    public const uint Pirq = 3;
    public const uint Virq = 4;
    public const uint Ipi = 5;
}

/// <summary>struct evtchn_status (24 bytes): dom and port in; status, vcpu and the union (at 16) out.</summary>
[StructLayout(LayoutKind.Explicit, Size = 24)]
public struct EventChannelStatus
{
    [FieldOffset(0)] public ushort Dom;
    [FieldOffset(4)] public uint Port;
    [FieldOffset(8)] public uint Status;
    [FieldOffset(12)] public uint Vcpu;
    /// <summary>u.unbound.dom and u.interdomain.dom.</summary>
    [FieldOffset(16)] public ushort RemoteDom;
    /// <summary>u.interdomain.port.</summary>
    [FieldOffset(20)] public uint RemotePort;
    /// <summary>u.virq (u.pirq shares it).</summary>
    [FieldOffset(16)] public uint Virq;
}

/// <summary>struct evtchn_bind_vcpu (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EventChannelBindVcpu
{
    public uint Port;
    public uint Vcpu;
}

/// <summary>struct evtchn_reset (2 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct EventChannelReset
{
    public ushort Dom;
}

/// <summary>
/// struct evtchn_op, the argument of the old event_channel_op_compat hypercall: cmd, then the union of
/// the per-command structs. Every member of the union is 4-byte aligned, so it starts at offset 4,
/// and its largest member (evtchn_status) makes the whole 28 bytes.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = Size)]
public struct EventChannelOpCompat
{
    public const int Size = 28;
    public const int ArgumentOffset = 4;

    public uint Command;
}
