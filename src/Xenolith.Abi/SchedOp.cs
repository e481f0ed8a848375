namespace Xenolith.Abi;

/// <summary>sched_op commands (sched.h SCHEDOP_*).</summary>
public static class SchedOp
{
    public const int Yield = 0;
    public const int Block = 1;
    public const int Shutdown = 2;
    public const int Poll = 3;
    public const int RemoteShutdown = 4;
    public const int ShutdownCode = 5;
    public const int Watchdog = 6;
    public const int PinOverride = 7;
}

/// <summary>struct sched_poll: a guest pointer to the ports, their count, and an absolute system-time timeout (0: none).</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
public struct SchedPoll
{
    public ulong Ports;
    public uint PortCount;
    private uint _pad;
    public ulong Timeout;
}

/// <summary>SHUTDOWN_* reasons (sched.h).</summary>
public enum ShutdownReason
{
    Poweroff = 0,
    Reboot = 1,
    Suspend = 2,
    Crash = 3,
    Watchdog = 4,
    SoftReset = 5,
}
