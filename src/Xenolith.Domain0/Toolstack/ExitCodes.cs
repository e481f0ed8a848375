using Xenolith.Abi;

namespace Xenolith.Domain0.Toolstack;

/// <summary>
/// The `xenolith run` exit status: the guest's shutdown reason, or a sysexits code when no
/// guest ran. Documented in README.md.
/// </summary>
public static class ExitCodes
{
    public const int Poweroff = 0;
    public const int Crash = 1;
    public const int Reboot = 2;
    public const int Suspend = 3;
    public const int Watchdog = 4;
    public const int SoftReset = 5;
    public const int Usage = 64;
    public const int BadInput = 65;
    public const int Unavailable = 69;
    public const int Internal = 70;

    public static int For(ShutdownReason reason) => reason switch
    {
        ShutdownReason.Poweroff => Poweroff,
        ShutdownReason.Reboot => Reboot,
        ShutdownReason.Suspend => Suspend,
        ShutdownReason.Crash => Crash,
        ShutdownReason.Watchdog => Watchdog,
        ShutdownReason.SoftReset => SoftReset,
        _ => Internal,
    };

    /// <summary>Several domains: a crash wins, then the first other non-poweroff reason.</summary>
    public static int For(IEnumerable<ShutdownReason> reasons)
    {
        ShutdownReason[] all = [.. reasons];
        if (all.Contains(ShutdownReason.Crash))
            return Crash;
        return all.Where(r => r != ShutdownReason.Poweroff).Select(For).FirstOrDefault(Poweroff);
    }
}
