namespace Xenolith.Hypervisor.Grants;

/// <summary>
/// Xen's struct active_grant_entry for a v1 full-page grant: who holds it and how (the pin
/// counts), and the frame it was pinned on. While the pin is non-zero the hypervisor uses this,
/// not the guest-editable shared entry, so the granter cannot swap the frame under a mapping.
/// </summary>
internal struct ActiveGrant
{
    /// <summary>Four 8-bit counts (Xen's GNTPIN_*): host writable, host read-only, device writable, device read-only.</summary>
    public uint Pin;

    /// <summary>The domain the grant is pinned for (0 = Domain0's backends).</summary>
    public ushort DomId;

    public ulong Mfn;
}

/// <summary>Xen's GNTPIN_* fields of <see cref="ActiveGrant.Pin"/>.</summary>
internal static class GrantPin
{
    public const uint HostWrite = 1u << 0;
    public const uint HostRead = 1u << 8;
    public const uint DeviceWrite = 1u << 16;
    public const uint DeviceRead = 1u << 24;
    public const uint HostWriteMask = 0xffu << 0;
    public const uint DeviceWriteMask = 0xffu << 16;

    /// <summary>Any writable pin: while one is held the shared entry keeps GTF_writing.</summary>
    public const uint WriteMask = HostWriteMask | DeviceWriteMask;

    /// <summary>A count at 128 or more: one more pin could carry into the next field, so Xen refuses it.</summary>
    public const uint OverflowRisk = 0x80808080u;

    /// <summary>What a mapping with GNTMAP_* <paramref name="flags"/> adds to the pin.</summary>
    public static uint ForMapFlags(uint flags)
    {
        bool readOnly = (flags & Abi.GrantMapFlags.ReadOnly) != 0;
        uint pin = 0;
        if ((flags & Abi.GrantMapFlags.DeviceMap) != 0)
            pin += readOnly ? DeviceRead : DeviceWrite;
        if ((flags & Abi.GrantMapFlags.HostMap) != 0)
            pin += readOnly ? HostRead : HostWrite;
        return pin;
    }
}
