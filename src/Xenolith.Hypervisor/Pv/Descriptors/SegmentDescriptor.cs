using Xenolith.Kvm;

namespace Xenolith.Hypervisor.Pv.Descriptors;

/// <summary>Which segment register a selector is being loaded into: each has its own architectural checks.</summary>
public enum SegmentLoad
{
    /// <summary>CS (iret, far return, far jump emulation).</summary>
    Code,

    /// <summary>SS.</summary>
    Stack,

    /// <summary>DS, ES, FS or GS.</summary>
    Data,
}

/// <summary>
/// 8-byte GDT/LDT descriptors as a 64-bit PV guest may install them (<see cref="Check"/>) and as a
/// CPU at CPL3 would load them into a segment register (<see cref="TryLoad"/>). The hypervisor needs
/// the second whenever it builds guest segment state itself (iret, failsafe callbacks, exception
/// frames), because KVM takes segments in their loaded form, not as selectors.
/// </summary>
public static class SegmentDescriptor
{
    public const ulong Accessed = 1UL << 40;
    public const ulong CodeOrData = 1UL << 44;      // S
    public const ulong DplMask = 3UL << 45;
    public const ulong Present = 1UL << 47;
    public const ulong Available = 1UL << 52;
    public const ulong LongMode = 1UL << 53;
    public const ulong DefaultSize = 1UL << 54;     // D/B
    public const ulong Granularity = 1UL << 55;

    private const int TypeShift = 40;
    private const int DplShift = 45;

    // Type field bits for code/data descriptors (S = 1).
    private const int TypeCode = 0x8;
    private const int TypeConforming = 0x4;         // code
    private const int TypeReadable = 0x2;           // code
    private const int TypeWritable = 0x2;           // data

    /// <summary>
    /// Xen's <c>check_descriptor</c> for a 64-bit PV domain: whether the guest may place
    /// <paramref name="descriptor"/> in a GDT (or LDT), fixing it up in place. The guest kernel runs at
    /// CPL3, so nothing it installs may lead below ring 3:
    /// <list type="bullet">
    /// <item>not present: always faults, so always safe; left unchanged;</item>
    /// <item>code and data (S = 1): accepted with no base/limit checks, DPL raised to 3;</item>
    /// <item>system type 0: accepted unchanged (it is the upper half of a 16-byte gate or TSS);</item>
    /// <item>every other system descriptor (LDT, TSS, interrupt and trap gates): refused.</item>
    /// </list>
    /// Deviation from Xen: Xen also accepts call gates (type 0xc) whose target is a guest code
    /// selector, forcing their DPL to 0 so that every use raises #GP and can be emulated. Xenolith
    /// does not emulate call gates, so it refuses every call gate rather than install one that
    /// could only ever fault.
    /// </summary>
    public static bool Check(ref ulong descriptor)
    {
        if ((descriptor & Present) == 0)
            return true;
        if ((descriptor & CodeOrData) != 0)
        {
            // __fixup_guest_selector on the DPL: GUEST_KERNEL_RPL is 3 for a 64-bit PV guest.
            descriptor |= DplMask;
            return true;
        }
        // Xen returns before writing back the DPL fix here, so a type-0 descriptor stays as it was.
        return Type(descriptor) == 0;
    }

    /// <summary>
    /// The hidden segment state a CPU at CPL3 would load for <paramref name="selector"/> (whose
    /// descriptor is <paramref name="descriptor"/>) into a register of kind <paramref name="kind"/>,
    /// or false where the CPU would raise #GP/#NP/#SS:
    /// <list type="bullet">
    /// <item>Code: a present code segment, selector RPL 3, DPL 3 (conforming: any DPL, as DPL &lt;= CPL
    /// always holds at CPL3), and not L = D = 1 (reserved in long mode);</item>
    /// <item>Stack: a present writable data segment, RPL 3, DPL 3;</item>
    /// <item>Data: a present data or readable code segment with DPL 3 (DPL &gt;= max(CPL, RPL) at
    /// CPL3), or any DPL for conforming code; a null selector (0-3) loads an unusable segment.</item>
    /// </list>
    /// Code and Stack refuse a null selector (CPL3 may not load one into CS or SS). The loaded type
    /// has the accessed bit set, as the CPU sets it in the descriptor on a load and VM entry requires
    /// it of every usable segment.
    /// </summary>
    public static bool TryLoad(ushort selector, ulong descriptor, SegmentLoad kind, out KvmSegment segment)
    {
        segment = default;
        int rpl = selector & 3;
        if ((selector & 0xfffc) == 0)
        {
            if (kind != SegmentLoad.Data)
                return false;
            segment = new KvmSegment { Selector = selector, Unusable = 1 };
            return true;
        }
        if ((descriptor & CodeOrData) == 0 || (descriptor & Present) == 0)
            return false;

        int type = Type(descriptor);
        int dpl = (int)((descriptor & DplMask) >> DplShift);
        bool code = (type & TypeCode) != 0;
        bool conforming = code && (type & TypeConforming) != 0;
        bool ok = kind switch
        {
            SegmentLoad.Code => code && rpl == 3 && (conforming || dpl == 3)
                                && (descriptor & (LongMode | DefaultSize)) != (LongMode | DefaultSize),
            SegmentLoad.Stack => !code && (type & TypeWritable) != 0 && rpl == 3 && dpl == 3,
            SegmentLoad.Data => (!code || (type & TypeReadable) != 0) && (conforming || dpl == 3),
            _ => false,
        };
        if (!ok)
            return false;

        uint limit = (uint)(descriptor & 0xffff) | (uint)((descriptor >> 32) & 0xf_0000);
        if ((descriptor & Granularity) != 0)
            limit = (limit << 12) | 0xfff;
        segment = new KvmSegment
        {
            Base = ((descriptor >> 16) & 0xff_ffff) | ((descriptor >> 32) & 0xff00_0000),
            Limit = limit,
            Selector = selector,
            Type = (byte)(type | 1),
            Present = 1,
            Dpl = (byte)dpl,
            Db = Bit(descriptor, DefaultSize),
            S = 1,
            L = Bit(descriptor, LongMode),
            G = Bit(descriptor, Granularity),
            Avl = Bit(descriptor, Available),
            Unusable = 0,
        };
        return true;
    }

    private static int Type(ulong descriptor) => (int)(descriptor >> TypeShift) & 0xf;

    private static byte Bit(ulong descriptor, ulong mask) => (descriptor & mask) != 0 ? (byte)1 : (byte)0;
}
