namespace Xenolith.Abi;

/// <summary>Hypercall numbers (xen.h __HYPERVISOR_*).</summary>
public enum Hypercall
{
    SetTrapTable = 0,
    MmuUpdate = 1,
    SetGdt = 2,
    StackSwitch = 3,
    SetCallbacks = 4,
    FpuTaskswitch = 5,
    SchedOpCompat = 6,
    PlatformOp = 7,
    SetDebugreg = 8,
    GetDebugreg = 9,
    UpdateDescriptor = 10,
    MemoryOp = 12,
    Multicall = 13,
    UpdateVaMapping = 14,
    SetTimerOp = 15,
    EventChannelOpCompat = 16,
    XenVersion = 17,
    ConsoleIo = 18,
    PhysdevOpCompat = 19,
    GrantTableOp = 20,
    VmAssist = 21,
    UpdateVaMappingOtherdomain = 22,
    Iret = 23,
    VcpuOp = 24,
    SetSegmentBase = 25,
    MmuextOp = 26,
    XsmOp = 27,
    NmiOp = 28,
    SchedOp = 29,
    CallbackOp = 30,
    XenoprofOp = 31,
    EventChannelOp = 32,
    PhysdevOp = 33,
    HvmOp = 34,
    Sysctl = 35,
    Domctl = 36,
    KexecOp = 37,
    TmemOp = 38,
    Argo = 39,
    XenpmuOp = 40,
    DmOp = 41,
    HypfsOp = 42,
}

/// <summary>Facts about the hypercall ABI that are not numbers of individual calls.</summary>
public static class HypercallAbi
{
    /// <summary>Each hypercall owns a 32-byte slot of the hypercall page.</summary>
    public const int PageEntrySize = 32;

    /// <summary>One 4 KiB page holds 128 entries.</summary>
    public const int PageEntries = 4096 / PageEntrySize;
}
