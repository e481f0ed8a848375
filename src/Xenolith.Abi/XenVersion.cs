namespace Xenolith.Abi;

/// <summary>xen_version sub-ops (version.h XENVER_*).</summary>
public static class XenVersion
{
    public const int Version = 0;
    public const int Extraversion = 1;
    public const int CompileInfo = 2;
    public const int Capabilities = 3;
    public const int Changeset = 4;
    public const int PlatformParameters = 5;
    public const int GetFeatures = 6;
    public const int Pagesize = 7;
    public const int GuestHandle = 8;
    public const int Commandline = 9;
    public const int BuildId = 10;
    public const int Extraversion2 = 11;
    public const int Capabilities2 = 12;
    public const int Changeset2 = 13;
    public const int Commandline2 = 14;

    public const int ExtraversionLength = 16;
    public const int CompileInfoLength = 64 + 16 + 32 + 32;
    public const int CapabilitiesLength = 1024;
    public const int ChangesetLength = 64;
    public const int CommandlineLength = 1024;
    public const int DomainHandleLength = 16;

    /// <summary>Xen caps variable-length replies at 64 KiB to bound the work of one call.</summary>
    public const int VarbufLimit = 64 * 1024;
}

/// <summary>XENFEAT_* bits reported by XENVER_get_features (features.h).</summary>
public static class XenFeature
{
    public const int WritablePageTables = 0;
    public const int WritableDescriptorTables = 1;
    public const int AutoTranslatedPhysmap = 2;
    public const int SupervisorModeKernel = 3;
    public const int PaePgdirAbove4Gb = 4;
    public const int MmuPtUpdatePreserveAd = 5;
    public const int HighmemAssist = 6;
    public const int GnttabMapAvailBits = 7;
    public const int HvmCallbackVector = 8;
    public const int HvmSafePvclock = 9;
    public const int HvmPirqs = 10;
    public const int Dom0 = 11;
    public const int GrantMapIdentity = 12;
    public const int MemoryOpVnodeSupported = 13;
    public const int ArmSmcccSupported = 14;
    public const int LinuxRsdpUnrestricted = 15;
    public const int NotDirectMapped = 16;
    public const int DirectMapped = 17;
    public const int RunstatePhysArea = 18;
    public const int VcpuTimePhysArea = 19;
    public const int DmMsixAllWrites = 20;
}
