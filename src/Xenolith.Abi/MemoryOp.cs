namespace Xenolith.Abi;

/// <summary>
/// memory_op sub-operations (memory.h XENMEM_*), the command encoding, and the x86-64 sizes of the
/// structures they take. The command is <c>op | (start_extent &lt;&lt; 6)</c>: the reservation ops
/// resume a continuation at start_extent.
/// </summary>
public static class MemoryOp
{
    /// <summary>MEMOP_CMD_MASK: the sub-operation is the low 6 bits of the command.</summary>
    public const ulong CmdMask = 0x3f;

    /// <summary>MEMOP_EXTENT_SHIFT: the rest of the command is the extent to start at.</summary>
    public const int ExtentShift = 6;

    public const int IncreaseReservation = 0;
    public const int DecreaseReservation = 1;
    public const int MaximumRamPage = 2;
    public const int CurrentReservation = 3;
    public const int MaximumReservation = 4;
    public const int MachphysMfnList = 5;
    public const int PopulatePhysmap = 6;
    public const int AddToPhysmap = 7;
    public const int MemoryMap = 9;
    public const int MachineMemoryMap = 10;
    public const int Exchange = 11;
    public const int MachphysMapping = 12;
    public const int SetMemoryMap = 13;
    public const int MaximumGpfn = 14;
    public const int RemoveFromPhysmap = 15;
    public const int SetPodTarget = 16;
    public const int GetPodTarget = 17;
    public const int GetSharingFreedPages = 18;
    public const int GetSharingSharedPages = 19;
    public const int PagingOp = 20;
    public const int AccessOp = 21;
    public const int SharingOp = 22;
    public const int AddToPhysmapBatch = 23;
    public const int ClaimPages = 24;
    public const int MachphysCompatMfnList = 25;
    public const int GetVnumaInfo = 26;
    public const int ReservedDeviceMemoryMap = 27;
    public const int AcquireResource = 28;

    /// <summary>struct xen_memory_reservation: extent_start @0, nr_extents @8, extent_order @16, mem_flags @20, domid @24.</summary>
    public const int ReservationSize = 32;

    /// <summary>struct xen_memory_exchange: in @0, out @32, nr_exchanged @64.</summary>
    public const int ExchangeSize = 72;
    public const int ExchangeOutOffset = 32;
    public const int ExchangeNrExchangedOffset = 64;

    /// <summary>struct xen_machphys_mfn_list: max_extents @0 (uint), extent_start @8, nr_extents @16 (uint).</summary>
    public const int MachphysMfnListSize = 24;

    /// <summary>struct xen_machphys_mapping: v_start, v_end, max_mfn.</summary>
    public const int MachphysMappingSize = 24;

    /// <summary>struct xen_memory_map: nr_entries @0 (uint), buffer @8.</summary>
    public const int MemoryMapSize = 16;

    /// <summary>struct xen_foreign_memory_map: domid @0, map (a xen_memory_map) @8.</summary>
    public const int ForeignMemoryMapSize = 24;

    /// <summary>One e820 record in a memory_map buffer: u64 addr, u64 size, u32 type, packed.</summary>
    public const int E820EntrySize = 20;

    /// <summary>E820MAX: the most entries set_memory_map accepts.</summary>
    public const int E820Max = 1024;

    /// <summary>CONFIG_DOMU_MAX_ORDER (= PAGETABLE_ORDER): the largest extent an unprivileged domain may ask for.</summary>
    public const int DomUMaxOrder = 9;

    // mem_flags (XENMEMF_*).
    /// <summary>Bits 0-7: address_bits, the machine-address width every frame must fit in (0 = no limit).</summary>
    public const uint AddressBitsMask = 0xff;

    /// <summary>Bits 8-15: NUMA node + 1 (0 = none).</summary>
    public const uint NodeMask = 0xff00;
    public const uint PopulateOnDemand = 1u << 16;
    public const uint ExactNodeRequest = 1u << 17;
    public const uint VirtualNode = 1u << 18;

    /// <summary>Where shared_info's arch.max_pfn lives (after 32 vcpu_infos, the event bitmaps and the wallclock): XENMEM_maximum_gpfn reads it.</summary>
    public const int SharedInfoMaxPfnOffset = 3088;

    /// <summary>The M2P's superpage granularity: machphys_mfn_list reports one frame per 2 MiB of table.</summary>
    public const ulong MachphysChunkSize = 2UL << 20;
}
