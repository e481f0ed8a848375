namespace Xenolith.Abi;

/// <summary>struct vcpu_time_info (xen.h), at vcpu_info + 32: the pvclock a PV guest reads with rdtsc.</summary>
public static class VcpuTimeInfoLayout
{
    public const int Version = 0;
    public const int TscTimestamp = 8;
    public const int SystemTime = 16;
    public const int TscToSystemMul = 24;
    public const int TscShift = 28;
    public const int Flags = 29;

    /// <summary>XEN_PVCLOCK_TSC_STABLE_BIT: the TSC is constant and synchronised, readings never go back.</summary>
    public const byte FlagTscStable = 1;
}

/// <summary>The wallclock in shared_info (xen.h): UTC at system time zero, with a version like vcpu_time_info's.</summary>
public static class WallclockLayout
{
    public const int Version = 3072;
    public const int Seconds = 3076;
    public const int Nanoseconds = 3080;
    /// <summary>wc_sec_hi: the upper 32 bits of the seconds (x86).</summary>
    public const int SecondsHigh = 3084;
}
