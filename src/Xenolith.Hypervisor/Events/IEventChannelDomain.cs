namespace Xenolith.Hypervisor.Events;

/// What event channels need from a domain.
public interface IEventChannelDomain
{
    ushort Id { get; }
    bool IsPrivileged { get; }
    bool IsDying { get; }
    /// vCPUs that exist: ids 0..VcpuCount-1 (an id >= VcpuCount is -ENOENT where Xen says so).
    int VcpuCount { get; }
    /// The domain's 4 KiB shared_info page (evtchn_pending at 2048, evtchn_mask at 2560: 64 ulongs each on x86-64).
    Span<byte> SharedInfo { get; }
    /// That vCPU's 64-byte vcpu_info (evtchn_upcall_pending at 0, evtchn_upcall_mask at 1, evtchn_pending_sel at 8), wherever it lives.
    Span<byte> VcpuInfo(int vcpu);
    /// Xen's vcpu_kick: evtchn_upcall_pending was just set for this vCPU.
    void KickVcpu(int vcpu);
    /// A port's pending bit was just set (masked or not): wake any vCPU polling (SCHEDOP_poll) on it.
    void WakePollers(int port);
    /// This domain's ports.
    EventChannelTable EventChannels { get; }
}
