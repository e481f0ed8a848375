namespace Xenolith.Hypervisor;

/// <summary>Reserved domain ids (xen.h DOMID_*).</summary>
public static class DomainIds
{
    public const ushort Domain0 = 0;
    public const ushort FirstGuest = 1;
    public const ushort MaxGuest = 0x7fef;
    public const ushort Self = 0x7ff0;
    public const ushort Io = 0x7ff1;
    public const ushort Xen = 0x7ff2;
    public const ushort Cow = 0x7ff3;
    public const ushort Invalid = 0x7ff4;
}
