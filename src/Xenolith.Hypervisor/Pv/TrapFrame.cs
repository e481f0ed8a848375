namespace Xenolith.Hypervisor.Pv;

/// <summary>
/// The frame a trap stub leaves on the hypervisor stack: error code (or the stub's 0), then the
/// CPU's iret frame. The host edits it in place to choose where the stub's iretq returns.
/// </summary>
public struct TrapFrame
{
    public const int Size = 48;

    public ulong ErrorCode;
    public ulong Rip;
    public ulong Cs;
    public ulong Rflags;
    public ulong Rsp;
    public ulong Ss;

    /// <summary>The privilege level the trap came from.</summary>
    public readonly int Cpl => (int)(Cs & 3);
}
