namespace Xenolith.Hypervisor.Memory;

/// <summary>
/// Which page-table entry bits a 64-bit PV guest may set at each level, and what the hypervisor
/// adds (Xen's L*_DISALLOW_MASK and adjust_guest_l*e), expressed on whole 64-bit entries.
/// </summary>
public static class PageTableRules
{
    public const ulong Pwt = 1UL << 3;
    public const ulong Pcd = 1UL << 4;
    public const ulong Pat4K = 1UL << 7;

    /// <summary>Xen's _PAGE_GUEST_KERNEL (bit 52): an L1 mapping the guest meant for its kernel (no _PAGE_USER).</summary>
    public const ulong GuestKernel = 1UL << 52;

    /// <summary>Bits a domain without I/O rights may not set in an L1 entry: the cache attributes (0x98).</summary>
    public const ulong L1Disallowed = Pwt | Pcd | Pat4K;

    /// <summary>Bits a guest may not set in an L2, L3 or L4 entry: cache attributes, PSE (no PV superpages), Global (0x198).</summary>
    public const ulong UpperDisallowed = Pwt | Pcd | Pte.LargePage | Pte.Global;

    public static ulong Disallowed(int level) => level == 1 ? L1Disallowed : UpperDisallowed;

    /// <summary>
    /// What must stay the same for an update to skip reference counting (Xen's fast path): the
    /// frame, P, RW and the cache bits. A/D, US, G, NX and the available bits may change freely.
    /// </summary>
    public const ulong ReferenceBits = Pte.AddressMask | Pte.Present | Pte.Writable | Pwt | Pcd | Pat4K;

    /// <summary>
    /// adjust_guest_l*e for 64-bit PV, whose kernel runs at CPL3: a present L1 entry without
    /// _PAGE_USER becomes a user-accessible kernel mapping marked _PAGE_GUEST_KERNEL, and a user
    /// mapping gets Global; upper entries get _PAGE_USER, and L4 entries also Accessed. The guest
    /// reads the adjusted value back.
    /// </summary>
    public static ulong Adjust(ulong entry, int level)
    {
        if ((entry & Pte.Present) == 0)
            return entry;
        switch (level)
        {
            case 1:
                if ((entry & Pte.User) == 0)
                    entry |= Pte.User | GuestKernel;
                if ((entry & GuestKernel) == 0)
                    entry |= Pte.Global | Pte.User;
                return entry;
            case 4:
                return entry | Pte.Accessed | Pte.User;
            default:
                return entry | Pte.User;
        }
    }

    /// <summary>L4 slots a 64-bit PV guest owns: all but Xen's 256-271.</summary>
    public static bool IsGuestL4Slot(int slot) => slot < 256 || slot >= 272;

    public static FrameType TableType(int level) => level switch
    {
        1 => FrameType.L1PageTable,
        2 => FrameType.L2PageTable,
        3 => FrameType.L3PageTable,
        4 => FrameType.L4PageTable,
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };

    public static int LevelOf(FrameType type) => type switch
    {
        FrameType.L1PageTable => 1,
        FrameType.L2PageTable => 2,
        FrameType.L3PageTable => 3,
        FrameType.L4PageTable => 4,
        _ => 0,
    };
}
