using System.Runtime.InteropServices;

namespace Xenolith.Abi;

/// <summary>grant_table_op commands (grant_table.h GNTTABOP_*). grant_table_op is hypercall 20.</summary>
public static class GrantTableOp
{
    public const int MapGrantRef = 0;
    public const int UnmapGrantRef = 1;
    public const int SetupTable = 2;
    public const int DumpTable = 3;
    public const int Transfer = 4;
    public const int Copy = 5;
    public const int QuerySize = 6;
    public const int UnmapAndReplace = 7;
    public const int SetVersion = 8;
    public const int GetStatusFrames = 9;
    public const int GetVersion = 10;
    public const int SwapGrantRef = 11;
    public const int CacheFlush = 12;

    /// <summary>
    /// The command is the low 12 bits (GNTTABOP_CMD_MASK); the bits above carry an opaque
    /// continuation argument, which only cache_flush may use (GNTTABOP_CONTINUATION_ARG_SHIFT).
    /// </summary>
    public const int ContinuationArgShift = 12;
    public const uint CommandMask = (1u << ContinuationArgShift) - 1;
}

/// <summary>gnttab_map_grant_ref.flags (GNTMAP_*).</summary>
public static class GrantMapFlags
{
    public const uint DeviceMap = 1u << 0;
    public const uint HostMap = 1u << 1;
    public const uint ReadOnly = 1u << 2;

    /// <summary>With HostMap: the mapping is usable by the guest's applications too (_PAGE_USER).</summary>
    public const uint ApplicationMap = 1u << 3;

    /// <summary>host_addr is the machine address of the PTE to write, not a virtual address.</summary>
    public const uint ContainsPte = 1u << 4;
    public const uint CanFail = 1u << 5;

    /// <summary>Bits from here up go to the PTE's available bits (only with XENFEAT_gnttab_map_avail_bits).</summary>
    public const int GuestAvailShift = 16;
}

/// <summary>grant_entry_v1.flags (GTF_*): the type in bits 0-1, then sub-flags.</summary>
public static class GrantEntryFlags
{
    public const ushort Invalid = 0;
    public const ushort PermitAccess = 1;
    public const ushort AcceptTransfer = 2;
    public const ushort Transitive = 3;
    public const ushort TypeMask = 3;

    /// <summary>Written by the granter: the grantee may only read.</summary>
    public const ushort ReadOnly = 1 << 2;

    /// <summary>Written by Xen: the grantee has the frame mapped or pinned for reading.</summary>
    public const ushort Reading = 1 << 3;

    /// <summary>Written by Xen: the grantee has the frame mapped or pinned for writing.</summary>
    public const ushort Writing = 1 << 4;
    public const ushort Pwt = 1 << 5;
    public const ushort Pcd = 1 << 6;
    public const ushort Pat = 1 << 7;
    public const ushort SubPage = 1 << 8;

    /// <summary>For AcceptTransfer entries (the same bits as ReadOnly and Reading).</summary>
    public const ushort TransferCommitted = 1 << 2;
    public const ushort TransferCompleted = 1 << 3;
}

/// <summary>Per-operation status codes (GNTST_*); every error is negative.</summary>
public static class GrantStatus
{
    public const short Okay = 0;
    public const short GeneralError = -1;
    public const short BadDomain = -2;
    public const short BadGntref = -3;
    public const short BadHandle = -4;
    public const short BadVirtAddr = -5;
    public const short BadDevAddr = -6;
    public const short NoDeviceSpace = -7;
    public const short PermissionDenied = -8;
    public const short BadPage = -9;
    public const short BadCopyArg = -10;
    public const short AddressTooBig = -11;
    public const short EAgain = -12;
}

/// <summary>gnttab_copy.flags (GNTCOPY_*): which side names a grant reference rather than a frame.</summary>
public static class GrantCopyFlags
{
    public const ushort SourceGref = 1 << 0;
    public const ushort DestGref = 1 << 1;
    public const ushort CanFail = 1 << 2;
}

/// <summary>gnttab_cache_flush.op (GNTTAB_CACHE_*).</summary>
public static class GrantCacheFlushOp
{
    public const uint Clean = 1u << 0;
    public const uint Invalidate = 1u << 1;
    public const uint SourceGref = 1u << 31;
}

/// <summary>The shared table's v1 layout: 8-byte entries, 512 to a 4 KiB frame.</summary>
public static class GrantTableLayout
{
    public const int EntryV1Size = 8;
    public const int EntriesPerFrameV1 = 4096 / EntryV1Size;

    /// <summary>Entries the toolstack fills before the guest runs (GNTTAB_NR_RESERVED_ENTRIES).</summary>
    public const int ReservedEntries = 8;
    public const uint ReservedConsole = 0;
    public const uint ReservedXenstore = 1;
}

/// <summary>struct grant_entry_v1 (8 bytes): flags and domid are updated together as one 32-bit word.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantEntryV1
{
    public ushort Flags;
    public ushort DomId;
    public uint Frame;
}

/// <summary>struct gnttab_map_grant_ref (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantMapGrantRef
{
    public ulong HostAddr;
    public uint Flags;
    public uint Ref;
    public ushort Dom;
    public short Status;
    public uint Handle;
    public ulong DevBusAddr;
}

/// <summary>struct gnttab_unmap_grant_ref (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantUnmapGrantRef
{
    public ulong HostAddr;
    public ulong DevBusAddr;
    public uint Handle;
    public short Status;
}

/// <summary>struct gnttab_unmap_and_replace (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantUnmapAndReplace
{
    public ulong HostAddr;
    public ulong NewAddr;
    public uint Handle;
    public short Status;
}

/// <summary>struct gnttab_setup_table (24 bytes): frame_list is a guest pointer to xen_pfn_t (8 bytes each).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantSetupTable
{
    public ushort Dom;
    public uint NrFrames;
    public short Status;
    public ulong FrameList;
}

/// <summary>struct gnttab_dump_table (4 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantDumpTable
{
    public ushort Dom;
    public short Status;
}

/// <summary>struct gnttab_transfer (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantTransfer
{
    public ulong Mfn;
    public ushort DomId;
    public uint Ref;
    public short Status;
}

/// <summary>One side of a gnttab_copy (16 bytes): a grant reference or a frame, the domain, the offset in the page.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public struct GrantCopyPointer
{
    [FieldOffset(0)] public uint Ref;
    [FieldOffset(0)] public ulong Gmfn;
    [FieldOffset(8)] public ushort DomId;
    [FieldOffset(10)] public ushort Offset;
}

/// <summary>struct gnttab_copy (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantCopy
{
    public GrantCopyPointer Source;
    public GrantCopyPointer Dest;
    public ushort Length;
    public ushort Flags;
    public short Status;
}

/// <summary>struct gnttab_query_size (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantQuerySize
{
    public ushort Dom;
    public uint NrFrames;
    public uint MaxNrFrames;
    public short Status;
}

/// <summary>struct gnttab_set_version (4 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantSetVersion
{
    public uint Version;
}

/// <summary>struct gnttab_get_status_frames (16 bytes): frame_list is a guest pointer to uint64_t.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantGetStatusFrames
{
    public uint NrFrames;
    public ushort Dom;
    public short Status;
    public ulong FrameList;
}

/// <summary>struct gnttab_get_version (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantGetVersion
{
    public ushort Dom;
    private ushort _pad;
    public uint Version;
}

/// <summary>struct gnttab_swap_grant_ref (12 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct GrantSwapGrantRef
{
    public uint RefA;
    public uint RefB;
    public short Status;
}

/// <summary>struct gnttab_cache_flush (16 bytes): a device bus address (or, unsupported, a grant reference), a range in its page, GNTTAB_CACHE_*.</summary>
[StructLayout(LayoutKind.Explicit, Size = 16)]
public struct GrantCacheFlush
{
    [FieldOffset(0)] public ulong DevBusAddr;
    [FieldOffset(0)] public uint Ref;
    [FieldOffset(8)] public ushort Offset;
    [FieldOffset(10)] public ushort Length;
    [FieldOffset(12)] public uint Op;
}
