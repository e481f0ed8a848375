using static Xenolith.Abi.XenFeature;

namespace Xenolith.Domain0.Builder;

/// <summary>
/// The feature names a kernel may list in its FEATURES ELF note, mapped to the XENFEAT_* bit
/// numbers of <see cref="Abi.XenFeature"/>.
/// </summary>
/// <remarks>
/// Only the names in Xen's libelf table are recognised in a FEATURES note (see
/// <see cref="TryGetElfFeatureBit"/>): libelf ignores other names unless they are marked
/// required, and so do we, so that an image Xen accepts is accepted here too.
/// </remarks>
public static class XenFeatures
{
    /// <summary>XENFEAT_NR_SUBMAPS: number of 32-bit feature words.</summary>
    public const int SubmapCount = 1;

    /// <summary>Longest feature name libelf compares; longer entries cannot match any name.</summary>
    internal const int MaxFeatureNameLength = 63;

    // The names libelf's elf_xen_feature_names[] recognises in a FEATURES note, by bit.
    private static readonly (string Name, int Bit)[] s_elfFeatureNames =
    [
        ("writable_page_tables", WritablePageTables),
        ("writable_descriptor_tables", WritableDescriptorTables),
        ("auto_translated_physmap", AutoTranslatedPhysmap),
        ("supervisor_mode_kernel", SupervisorModeKernel),
        ("pae_pgdir_above_4gb", PaePgdirAbove4Gb),
        ("hvm_callback_vector", HvmCallbackVector),
        ("dom0", Dom0),
    ];

    // features.h names for every defined bit, used only to describe masks in messages.
    private static readonly string?[] s_headerNames =
    [
        "writable_page_tables",
        "writable_descriptor_tables",
        "auto_translated_physmap",
        "supervisor_mode_kernel",
        "pae_pgdir_above_4gb",
        "mmu_pt_update_preserve_ad",
        "highmem_assist",
        "gnttab_map_avail_bits",
        "hvm_callback_vector",
        "hvm_safe_pvclock",
        "hvm_pirqs",
        "dom0",
        "grant_map_identity",
        "memory_op_vnode_supported",
        "ARM_SMCCC_supported",
        "linux_rsdp_unrestricted",
        "not_direct_mapped",
        "direct_mapped",
    ];

    /// <summary>
    /// Looks up a name from a FEATURES note (without any '!' prefix) in libelf's table.
    /// Matching is exact and case-sensitive, as libelf's strcmp.
    /// </summary>
    public static bool TryGetElfFeatureBit(string name, out int bit)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach ((string known, int knownBit) in s_elfFeatureNames)
        {
            if (string.Equals(known, name, StringComparison.Ordinal))
            {
                bit = knownBit;
                return true;
            }
        }

        bit = -1;
        return false;
    }

    /// <summary>The features.h name of a bit, or "bit N" for a bit Xen does not define.</summary>
    public static string NameOf(int bit) =>
        bit >= 0 && bit < s_headerNames.Length && s_headerNames[bit] is { } name
            ? name
            : $"bit {bit}";

    /// <summary>Names of the bits set in <paramref name="mask"/>, lowest bit first.</summary>
    public static IReadOnlyList<string> NamesOf(uint mask)
    {
        var names = new List<string>();
        for (int bit = 0; bit < 32; bit++)
        {
            if ((mask & (1u << bit)) != 0)
            {
                names.Add(NameOf(bit));
            }
        }

        return names;
    }

    /// <summary>The single-bit mask for <paramref name="bit"/> (0..31).</summary>
    public static uint Mask(int bit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bit);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bit, 31);
        return 1u << bit;
    }
}
