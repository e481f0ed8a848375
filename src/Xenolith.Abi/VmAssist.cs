namespace Xenolith.Abi;

/// <summary>vm_assist commands and types (xen.h VMASST_*).</summary>
public static class VmAssist
{
    public const int CmdEnable = 0;
    public const int CmdDisable = 1;

    public const int Type4GbSegments = 0;
    public const int Type4GbSegmentsNotify = 1;
    public const int TypeWritablePagetables = 2;
    public const int TypePaeExtendedCr3 = 3;
    public const int TypeArchitecturalIopl = 4;
    public const int TypeRunstateUpdateFlag = 5;
    public const int TypeM2pStrict = 32;

    /// <summary>The assists Xen accepts from a 64-bit PV guest (VM_ASSIST_VALID).</summary>
    public const ulong ValidMaskPv64 =
        (1UL << Type4GbSegments) | (1UL << Type4GbSegmentsNotify) | (1UL << TypeWritablePagetables) |
        (1UL << TypePaeExtendedCr3) | (1UL << TypeArchitecturalIopl) | (1UL << TypeRunstateUpdateFlag) |
        (1UL << TypeM2pStrict);
}
