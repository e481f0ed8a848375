using Xenolith.Abi;
using Xenolith.Hypervisor.Pv.Emulation;
using Xenolith.Kvm;
using Xunit;

namespace Xenolith.Tests.Pv.Emulation;

public sealed class CpuidPolicyTests
{
    private const uint SignificantIndex = 1;

    private static KvmCpuidEntry2 Entry(uint function, uint eax, uint ebx = 0, uint ecx = 0, uint edx = 0, uint? index = null) => new()
    {
        Function = function,
        Index = index ?? 0,
        Flags = index is null ? 0 : SignificantIndex,
        Eax = eax,
        Ebx = ebx,
        Ecx = ecx,
        Edx = edx,
    };

    /// <summary>A host with every feature bit set where the policy masks, invariant TSC and 39-bit physical addresses.</summary>
    private static KvmCpuidEntry2[] Host(bool invariantTsc = true, bool addressSizes = true)
    {
        var entries = new List<KvmCpuidEntry2>
        {
            Entry(0, 0xd, 0x756e_6547, 0x6c65_746e, 0x4965_6e69), // GenuineIntel, max basic leaf 0xd
            Entry(1, 0xffff_ffff, 0x0a10_0800, 0xffff_ffff, 0xffff_ffff),
            Entry(4, 0x1c00_4121, 0x01c0_003f, 0x3f, 0, index: 0),
            Entry(5, 0x40, 0x40, 3, 0x1120),
            Entry(6, 0x77, 2, 9, 0),
            Entry(7, 2, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff, index: 0),
            Entry(7, 0x30, 0, 0, 0, index: 1),
            Entry(0xd, 7, 0x340, 0x340, 0, index: 0),
            Entry(0x4000_0000, 0x4000_0001, 0x4b4d_564b, 0x564b_4d56, 0x4d), // KVM's signature: replaced
            Entry(0x4000_0001, 0x0100_7afb),
            Entry(0x8000_0000, addressSizes ? 0x8000_0008u : 0x8000_0007u),
            Entry(0x8000_0001, 0, 0, 0xffff_ffff, 0xffff_ffff),
            Entry(0x8000_0007, 0, 0, 0, invariantTsc ? 1u << 8 : 0),
            Entry(0x8000_000a, 1, 0x8000, 0, 0xff), // beyond max extended: dropped anyway
            Entry(0x20, 1, 2, 3, 4),                // beyond max basic: dropped
        };
        if (addressSizes)
            entries.Add(Entry(0x8000_0008, 0x3027, 0x1234, 0, 0));
        return [.. entries];
    }

    private static CpuidPolicy Policy(bool invariantTsc = true, bool addressSizes = true) =>
        new(Host(invariantTsc, addressSizes), 4, 19);

    [Fact]
    public void XenLeaves_ReplaceKvms()
    {
        var policy = Policy();

        Assert.Equal((0x4000_0005u, XenCpuid.SignatureEbx, XenCpuid.SignatureEcx, XenCpuid.SignatureEdx), policy.Query(0x4000_0000, 0));
        Assert.Equal(((4u << 16) | 19u, 0u, 0u, 0u), policy.Query(0x4000_0001, 0));
        Assert.Equal((1u, 0x4000_0000u, XenCpuid.Feature1MmuPtUpdatePreserveAd, 0u), policy.Query(0x4000_0002, 7));
    }

    [Fact]
    public void XenSignature_SpellsXenVMMXenVMM()
    {
        var (_, ebx, ecx, edx) = Policy().Query(0x4000_0000, 0);
        var bytes = new byte[12];
        BitConverter.TryWriteBytes(bytes.AsSpan(0), ebx);
        BitConverter.TryWriteBytes(bytes.AsSpan(4), ecx);
        BitConverter.TryWriteBytes(bytes.AsSpan(8), edx);

        Assert.Equal("XenVMMXenVMM", System.Text.Encoding.ASCII.GetString(bytes));
    }

    [Theory]
    [InlineData(true, 1u << 1)]
    [InlineData(false, 0u)]
    public void TimeLeaf_ReportsASafeTsc_OnlyWithInvariantTsc(bool invariantTsc, uint safeBit)
    {
        var policy = Policy(invariantTsc);
        // The synthetic host has rdtscp (0x80000001 EDX bit 27), reported as bit 2 like Xen does.
        Assert.Equal((safeBit | (1u << 2), 0u, 0u, 0u), policy.Query(0x4000_0003, 0));
        Assert.Equal((0u, 0u, 0u, 0u), policy.Query(0x4000_0003, 1));
        Assert.Equal((0u, 0u, 0u, 0u), policy.Query(0x4000_0003, 2));
    }

    [Theory]
    [InlineData(true, 39u)]
    [InlineData(false, 46u)]
    public void PvParameterLeaf_ReportsMachineAddressBits(bool addressSizes, uint bits)
    {
        var policy = Policy(addressSizes: addressSizes);

        Assert.Equal((0u, bits, 0u, 0u), policy.Query(0x4000_0005, 0));
        Assert.Equal((0u, 0u, 0u, 0u), policy.Query(0x4000_0005, 1));
    }

    [Theory]
    [InlineData(0x4000_0004u)] // HVM-only
    [InlineData(0x4000_0006u)]
    [InlineData(0x4000_00ffu)]
    [InlineData(0x4000_0100u)]
    [InlineData(0x4fff_ffffu)]
    [InlineData(0x0000_0020u)] // beyond max basic
    [InlineData(0x0000_000eu)]
    [InlineData(0x8000_000au)] // beyond max extended
    [InlineData(0xc000_0000u)] // no known range
    public void UnknownLeaves_AreZero(uint leaf)
    {
        Assert.Equal((0u, 0u, 0u, 0u), Policy().Query(leaf, 0));
    }

    [Fact]
    public void Leaf1_HidesWhatXenHidesFromPv_AndSetsTheHypervisorBit()
    {
        var (eax, ebx, ecx, edx) = Policy().Query(1, 0);

        Assert.Equal(0x0fff_0fffu, eax);
        Assert.Equal(0x0010_0800u, ebx); // initial APIC id cleared, CLFLUSH size and the rest kept
        Assert.NotEqual(0u, ecx & (1u << 31));
        foreach (int bit in new[] { 2, 3, 4, 5, 6, 7, 8, 14, 15, 17, 18, 21, 24 })
            Assert.True((ecx & (1u << bit)) == 0, $"ECX bit {bit}");
        foreach (int bit in new[] { 0, 1, 9, 12, 13, 19, 20, 22, 23, 25, 26, 27, 28, 29, 30 })
            Assert.True((ecx & (1u << bit)) != 0, $"ECX bit {bit}");
        foreach (int bit in new[] { 1, 3, 12, 13, 17, 21, 29, 31 })
            Assert.True((edx & (1u << bit)) == 0, $"EDX bit {bit}");
        foreach (int bit in new[] { 0, 4, 5, 6, 8, 9, 11, 15, 16, 19, 23, 24, 25, 26 })
            Assert.True((edx & (1u << bit)) != 0, $"EDX bit {bit}");
    }

    [Fact]
    public void Leaf1_KeepsOsxsaveAsTheTableHasIt()
    {
        var entries = Host();
        entries[1].Ecx = 0;
        Assert.Equal(1u << 31, new CpuidPolicy(entries, 4, 19).Query(1, 0).Ecx);
    }

    [Fact]
    public void Leaf7_Subleaf0_HidesFsgsbaseInvpcidSmepSmap_AndOtherSubleavesPassThrough()
    {
        var policy = Policy();
        var (eax, ebx, ecx, _) = policy.Query(7, 0);

        Assert.Equal(2u, eax);
        foreach (int bit in new[] { 0, 1, 2, 7, 10, 20 })
            Assert.True((ebx & (1u << bit)) == 0, $"EBX bit {bit}");
        foreach (int bit in new[] { 3, 5, 8, 9, 16, 29 })
            Assert.True((ebx & (1u << bit)) != 0, $"EBX bit {bit}");
        Assert.Equal(0u, ecx & (1u << 16)); // LA57
        Assert.Equal((0x30u, 0u, 0u, 0u), policy.Query(7, 1));
        Assert.Equal((0u, 0u, 0u, 0u), policy.Query(7, 2));
    }

    [Fact]
    public void SubleafIsIgnored_UnlessTheEntryIsIndexed()
    {
        var policy = Policy();

        Assert.Equal(policy.Query(1, 0), policy.Query(1, 0x1234));
        Assert.Equal((0x1c00_4121u, 0x01c0_003fu, 0x3fu, 0u), policy.Query(4, 0));
        Assert.Equal((0u, 0u, 0u, 0u), policy.Query(4, 1));
    }

    [Fact]
    public void MonitorThermalAndSvmLeaves_AreEmpty()
    {
        var policy = Policy();

        Assert.Equal((0u, 0u, 0u, 0u), policy.Query(5, 0));
        Assert.Equal((0u, 0u, 0u, 0u), policy.Query(6, 0));
    }

    [Fact]
    public void Extended1_HidesSvmAnd1GbPages()
    {
        var (_, _, ecx, edx) = Policy().Query(0x8000_0001, 0);

        Assert.Equal(0u, ecx & (1u << 2));
        Assert.NotEqual(0u, ecx & 1u); // LAHF_LM
        Assert.Equal(0u, edx & (1u << 26));
        Assert.NotEqual(0u, edx & (1u << 29)); // LM
        Assert.NotEqual(0u, edx & (1u << 27)); // RDTSCP
    }

    [Fact]
    public void BasicAndExtendedMaxima_AreKept()
    {
        var policy = Policy();

        Assert.Equal(0xdu, policy.Query(0, 0).Eax);
        Assert.Equal(0x8000_0008u, policy.Query(0x8000_0000, 0).Eax);
        Assert.Equal((0x3027u, 0x1234u, 0u, 0u), policy.Query(0x8000_0008, 0));
    }

    [Fact]
    public void AnEmptyTable_StillHasXensLeaves()
    {
        var policy = new CpuidPolicy([], 4, 19);

        Assert.Equal(0x4000_0005u, policy.Query(0x4000_0000, 0).Eax);
        Assert.Equal((0u, 46u, 0u, 0u), policy.Query(0x4000_0005, 0));
        Assert.Equal((0u, 0u, 0u, 0u), policy.Query(0, 0));
    }
}
