namespace Xenolith.Abi;

/// <summary>x86-64 PV constants from arch-x86/xen-x86_64.h: selectors and the hypervisor's address range.</summary>
public static class X86Layout
{
    // Flat selectors Xen places in its reserved GDT page, for the guest's use.
    public const ushort FlatRing3Cs32 = 0xe023;
    public const ushort FlatRing3Ds32 = 0xe02b;
    public const ushort FlatRing3Ss32 = 0xe02b;
    public const ushort FlatRing3Cs64 = 0xe033;
    public const ushort FlatRing3Ds64 = 0x0000;
    public const ushort FlatRing3Ss64 = 0xe02b;
    public const ushort FlatKernelCs64 = FlatRing3Cs64;
    public const ushort FlatKernelSs64 = FlatRing3Ss64;
    public const ushort FlatUserCs64 = FlatRing3Cs64;
    public const ushort FlatUserSs64 = FlatRing3Ss64;

    /// <summary>The first GDT page the hypervisor reserves (entries below it belong to the guest).</summary>
    public const int FirstReservedGdtPage = 14;
    public const int FirstReservedGdtEntry = FirstReservedGdtPage * 512;

    public const ulong HypervisorVirtStart = 0xffff_8000_0000_0000;
    public const ulong HypervisorVirtEnd = 0xffff_8800_0000_0000;
    public const ulong Mach2PhysVirtStart = 0xffff_8000_0000_0000;
    public const ulong Mach2PhysVirtEnd = 0xffff_8040_0000_0000;
}
