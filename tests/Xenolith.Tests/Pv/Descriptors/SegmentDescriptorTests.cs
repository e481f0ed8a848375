using Xenolith.Hypervisor.Pv.Descriptors;
using Xenolith.Kvm;
using Xunit;

namespace Xenolith.Tests.Pv.Descriptors;

/// <summary>check_descriptor as Xen applies it to a 64-bit PV guest, and segment loads as a CPU at CPL3 performs them.</summary>
public sealed class SegmentDescriptorTests
{
    public const ulong Code64Dpl3 = 0x00af_fb00_0000_ffff;
    public const ulong Code64Dpl0 = 0x00af_9b00_0000_ffff;
    public const ulong DataDpl3 = 0x00cf_f300_0000_ffff;
    public const ulong DataDpl0 = 0x00cf_9300_0000_ffff;

    [Theory]
    [InlineData(0x0000_0000_0000_0000UL, 0x0000_0000_0000_0000UL)]   // null entry
    [InlineData(0x00af_1b00_0000_ffffUL, 0x00af_1b00_0000_ffffUL)]   // not present, DPL 0: unchanged
    [InlineData(0xffff_7fff_ffff_ffffUL, 0xffff_7fff_ffff_ffffUL)]   // not present, anything else set: unchanged
    [InlineData(Code64Dpl0, Code64Dpl3)]                             // DPL 0 code raised to 3
    [InlineData(0x00af_bb00_0000_ffffUL, Code64Dpl3)]                // DPL 1 code raised to 3
    [InlineData(Code64Dpl3, Code64Dpl3)]
    [InlineData(DataDpl0, DataDpl3)]                                 // DPL 0 data raised to 3
    [InlineData(DataDpl3, DataDpl3)]
    [InlineData(0x00cf_9f00_0000_ffffUL, 0x00cf_ff00_0000_ffffUL)]   // conforming code too
    [InlineData(0x0000_8000_dead_beefUL, 0x0000_8000_dead_beefUL)]   // type-0 system (upper half of a 16-byte entry): unchanged, DPL too
    [InlineData(0x0000_0000_ffff_ffffUL, 0x0000_0000_ffff_ffffUL)]
    public void Accepted(ulong descriptor, ulong expected)
    {
        Assert.True(SegmentDescriptor.Check(ref descriptor));
        Assert.Equal(expected, descriptor);
    }

    [Theory]
    [InlineData(0x0000_8900_0000_0067UL)]   // available 64-bit TSS
    [InlineData(0x0000_e900_0000_0067UL)]   // TSS with DPL 3
    [InlineData(0x0000_8b00_0000_0067UL)]   // busy TSS
    [InlineData(0x0000_8200_0000_0fffUL)]   // LDT
    [InlineData(0x0000_e200_0000_0fffUL)]   // LDT with DPL 3
    [InlineData(0x0000_ee00_e033_1000UL)]   // interrupt gate
    [InlineData(0x0000_ef00_e033_1000UL)]   // trap gate
    [InlineData(0x0000_ec00_0013_1000UL)]   // call gate to a guest code selector (Xen would accept and emulate it)
    [InlineData(0x0000_8c00_e033_1000UL)]   // call gate, DPL 0
    [InlineData(0x0000_e500_0000_0000UL)]   // task gate
    [InlineData(0x0000_e100_0000_0067UL)]   // 16-bit TSS
    public void Refused(ulong descriptor)
    {
        ulong original = descriptor;
        Assert.False(SegmentDescriptor.Check(ref descriptor));
        Assert.Equal(original, descriptor);
    }

    [Fact]
    public void Load_Code64()
    {
        Assert.True(SegmentDescriptor.TryLoad(0x13, Code64Dpl3, SegmentLoad.Code, out KvmSegment cs));
        Assert.Equal(0UL, cs.Base);
        Assert.Equal(0xffff_ffffu, cs.Limit);
        Assert.Equal(0x13, cs.Selector);
        Assert.Equal(0xb, cs.Type);
        Assert.Equal("P1 DPL3 DB0 S1 L1 G1 AVL0 U0", Flags(cs));
    }

    [Fact]
    public void Load_DecodesBaseLimitAndFlags()
    {
        // base 0x12345678, limit 0xabcd, byte granular, D=1.
        Assert.True(SegmentDescriptor.TryLoad(0x2b, 0x1240_f334_5678_abcd, SegmentLoad.Data, out KvmSegment ds));
        Assert.Equal(0x1234_5678UL, ds.Base);
        Assert.Equal(0xabcdu, ds.Limit);
        Assert.Equal("P1 DPL3 DB1 S1 L0 G0 AVL0 U0", Flags(ds));

        // Same with G=1, AVL=1, limit 0xfabcd pages.
        Assert.True(SegmentDescriptor.TryLoad(0x2b, 0x12df_f334_5678_abcd, SegmentLoad.Data, out ds));
        Assert.Equal(0xfabc_dfffu, ds.Limit);
        Assert.Equal("P1 DPL3 DB1 S1 L0 G1 AVL1 U0", Flags(ds));
    }

    [Fact]
    public void Load_SetsTheAccessedBit()
    {
        Assert.True(SegmentDescriptor.TryLoad(0x2b, 0x00cf_f200_0000_ffff, SegmentLoad.Stack, out KvmSegment ss));
        Assert.Equal(0x3, ss.Type);
        Assert.Equal(1, ss.Db);
    }

    [Theory]
    [InlineData((ushort)0x13, Code64Dpl3, true)]
    [InlineData((ushort)0x10, Code64Dpl3, false)]                // RPL 0
    [InlineData((ushort)0x11, Code64Dpl3, false)]                // RPL 1
    [InlineData((ushort)0x13, Code64Dpl0, false)]                // non-conforming, DPL 0
    [InlineData((ushort)0x13, 0x00af_9f00_0000_ffffUL, true)]    // conforming, DPL 0 <= CPL 3
    [InlineData((ushort)0x13, 0x00cf_fb00_0000_ffffUL, true)]    // 32-bit (compatibility mode) code
    [InlineData((ushort)0x13, 0x00ef_fb00_0000_ffffUL, false)]   // L = D = 1: reserved in long mode
    [InlineData((ushort)0x13, 0x00af_7b00_0000_ffffUL, false)]   // not present
    [InlineData((ushort)0x13, DataDpl3, false)]                  // data
    [InlineData((ushort)0x13, 0x0000_e900_0000_0067UL, false)]   // system (TSS)
    [InlineData((ushort)0x03, Code64Dpl3, false)]                // null
    [InlineData((ushort)0x00, Code64Dpl3, false)]
    public void Load_Code(ushort selector, ulong descriptor, bool ok)
    {
        Assert.Equal(ok, SegmentDescriptor.TryLoad(selector, descriptor, SegmentLoad.Code, out KvmSegment cs));
        if (ok)
        {
            Assert.Equal(selector, cs.Selector);
            Assert.Equal(1, cs.Present);
            Assert.Equal(0, cs.Unusable);
        }
    }

    [Theory]
    [InlineData((ushort)0x1b, DataDpl3, true)]
    [InlineData((ushort)0x1b, 0x00cf_f700_0000_ffffUL, true)]    // expand-down writable
    [InlineData((ushort)0x18, DataDpl3, false)]                  // RPL 0
    [InlineData((ushort)0x1a, DataDpl3, false)]                  // RPL 2
    [InlineData((ushort)0x1b, DataDpl0, false)]                  // DPL 0
    [InlineData((ushort)0x1b, 0x00cf_f100_0000_ffffUL, false)]   // read-only data
    [InlineData((ushort)0x1b, 0x00cf_fb00_0000_ffffUL, false)]   // readable code
    [InlineData((ushort)0x1b, 0x00cf_7300_0000_ffffUL, false)]   // not present
    [InlineData((ushort)0x03, DataDpl3, false)]                  // null
    public void Load_Stack(ushort selector, ulong descriptor, bool ok) =>
        Assert.Equal(ok, SegmentDescriptor.TryLoad(selector, descriptor, SegmentLoad.Stack, out _));

    [Theory]
    [InlineData((ushort)0x1b, DataDpl3, true)]
    [InlineData((ushort)0x18, DataDpl3, true)]                   // any RPL: RPL <= DPL 3
    [InlineData((ushort)0x1b, 0x00cf_f100_0000_ffffUL, true)]    // read-only data
    [InlineData((ushort)0x1b, Code64Dpl3, true)]                 // readable code
    [InlineData((ushort)0x1b, 0x00af_f800_0000_ffffUL, false)]   // execute-only code
    [InlineData((ushort)0x1b, DataDpl0, false)]                  // DPL 0 < CPL 3
    [InlineData((ushort)0x1b, 0x00cf_b300_0000_ffffUL, false)]   // DPL 1
    [InlineData((ushort)0x18, 0x00af_9e00_0000_ffffUL, true)]    // conforming readable code: no privilege check
    [InlineData((ushort)0x1b, 0x00cf_7300_0000_ffffUL, false)]   // not present
    [InlineData((ushort)0x1b, 0x0000_e200_0000_0fffUL, false)]   // system (LDT)
    [InlineData((ushort)0xe013, 0x00cf_9300_0000_ffffUL, false)] // Xen's DS (0xe010, DPL 0)
    public void Load_Data(ushort selector, ulong descriptor, bool ok) =>
        Assert.Equal(ok, SegmentDescriptor.TryLoad(selector, descriptor, SegmentLoad.Data, out _));

    [Theory]
    [InlineData((ushort)0)]
    [InlineData((ushort)3)]
    public void Load_NullData_IsUnusable(ushort selector)
    {
        // The descriptor is irrelevant: the CPU never reads entry 0.
        Assert.True(SegmentDescriptor.TryLoad(selector, Code64Dpl0, SegmentLoad.Data, out KvmSegment ds));
        Assert.Equal(1, ds.Unusable);
        Assert.Equal(selector, ds.Selector);
        Assert.Equal(0, ds.Present);
    }

    [Fact]
    public void Load_LdtIndexZero_IsNotNull()
    {
        // 0x4-0x7 name LDT entry 0: not the null selector.
        Assert.False(SegmentDescriptor.TryLoad(0x7, 0, SegmentLoad.Data, out _));
        Assert.True(SegmentDescriptor.TryLoad(0x7, DataDpl3, SegmentLoad.Data, out KvmSegment ds));
        Assert.Equal(0, ds.Unusable);
    }

    private static string Flags(in KvmSegment s) =>
        $"P{s.Present} DPL{s.Dpl} DB{s.Db} S{s.S} L{s.L} G{s.G} AVL{s.Avl} U{s.Unusable}";
}
