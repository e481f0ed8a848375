namespace Xenolith.Hypervisor.Memory;

/// <summary>x86-64 4-level page-table entry bits.</summary>
public static class Pte
{
    public const ulong Present = 1UL << 0;
    public const ulong Writable = 1UL << 1;
    public const ulong User = 1UL << 2;
    public const ulong Accessed = 1UL << 5;
    public const ulong Dirty = 1UL << 6;
    public const ulong LargePage = 1UL << 7;
    public const ulong Global = 1UL << 8;
    public const ulong NoExecute = 1UL << 63;
    public const ulong AddressMask = 0x000f_ffff_ffff_f000;

    public static ulong Make(ulong mfn, ulong flags) => (mfn << MachineMemory.PageShift) | flags;

    public static ulong Mfn(ulong entry) => (entry & AddressMask) >> MachineMemory.PageShift;

    public static int Index(ulong va, int level) => (int)((va >> (12 + 9 * (level - 1))) & 511);
}
