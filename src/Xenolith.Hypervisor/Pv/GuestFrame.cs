namespace Xenolith.Hypervisor.Pv;

/// <summary>
/// The interrupted guest context's control part (Xen's cpu_user_regs rip/cs/rflags/rsp/ss). At an
/// exit it comes either from the trap stub's iret frame on the hypervisor stack or from the live
/// registers; handlers edit it, and the vCPU writes it back to wherever it came from.
/// </summary>
public struct GuestFrame
{
    public ulong Rip;
    public ushort Cs;
    public ulong Rflags;
    public ulong Rsp;
    public ushort Ss;

    /// <summary>The RPL of the saved CS: 3 for everything a PV guest runs (kernel and user alike).</summary>
    public readonly int Rpl => Cs & 3;
}
