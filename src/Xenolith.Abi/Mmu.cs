namespace Xenolith.Abi;

/// <summary>mmuext_op commands (xen.h MMUEXT_*) and struct mmuext_op (24 bytes: cmd, arg1, arg2).</summary>
public static class MmuextOp
{
    public const int Size = 24;

    public const int PinL1Table = 0;
    public const int PinL2Table = 1;
    public const int PinL3Table = 2;
    public const int PinL4Table = 3;
    public const int UnpinTable = 4;
    public const int NewBaseptr = 5;
    public const int TlbFlushLocal = 6;
    public const int InvlpgLocal = 7;
    public const int TlbFlushMulti = 8;
    public const int InvlpgMulti = 9;
    public const int TlbFlushAll = 10;
    public const int InvlpgAll = 11;
    public const int FlushCache = 12;
    public const int SetLdt = 13;
    public const int NewUserBaseptr = 15;
    public const int ClearPage = 16;
    public const int CopyPage = 17;
    public const int FlushCacheGlobal = 18;
    public const int MarkSuper = 19;
    public const int UnmarkSuper = 20;

    /// <summary>SET_LDT: at most 8192 descriptors (64 KiB).</summary>
    public const uint MaxLdtEntries = 8192;
}

/// <summary>mmu_update commands, in the low 3 bits of struct mmu_update.ptr (16 bytes: ptr, val).</summary>
public static class MmuUpdate
{
    public const int Size = 16;
    public const int NormalPtUpdate = 0;
    public const int MachphysUpdate = 1;
    public const int PtUpdatePreserveAd = 2;
    public const int PtUpdateNoTranslate = 3;

    /// <summary>Set in count when mmu_update or mmuext_op resumes from a continuation.</summary>
    public const uint Preempted = 0x8000_0000;
}

/// <summary>update_va_mapping flags (xen.h UVMF_*): flush type in bits 0-1, target in the rest.</summary>
public static class Uvmf
{
    public const ulong FlushTypeMask = 3;
    public const ulong None = 0;
    public const ulong TlbFlush = 1;
    public const ulong Invlpg = 2;
    public const ulong Local = 0;
    public const ulong All = 1 << 2;
}

/// <summary>struct multicall_entry: op, result, args[6] (64 bytes).</summary>
public static class MulticallEntry
{
    public const int Size = 64;
    public const int ResultOffset = 8;
}
