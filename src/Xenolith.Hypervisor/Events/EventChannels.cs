using Xenolith.Abi;

namespace Xenolith.Hypervisor.Events;

/// <summary>
/// Event channels between and within domains (Xen's xen/common/event_channel.c) over the 2-level
/// ABI: the EVTCHNOP_* operations a guest asks for, and the host's VIRQ delivery. Results are 0 or
/// a negative Xen errno, checked in the order Xen checks them; each operation names the Xen
/// function it mirrors.
/// <para>
/// One lock covers every state change and every delivery: it is uncontended (a handful of guest
/// vCPUs, short critical sections), and a send can then never race a close of either end.
/// <see cref="IEventChannelDomain.KickVcpu"/> and <see cref="IEventChannelDomain.WakePollers"/> are
/// called with it held and must not call back in.
/// </para>
/// <para>
/// A dying domain receives nothing (sends, VIRQs and bind notifications to it are dropped) and
/// allocates no new port (-EINVAL, as Xen's get_free_port).
/// </para>
/// </summary>
public sealed class EventChannels(Func<ushort, IEventChannelDomain?> findDomain)
{
    private readonly Lock _lock = new();

    /// <summary>evtchn_alloc_unbound: a new port in <paramref name="dom"/> that <paramref name="remoteDom"/> may bind to.</summary>
    public int AllocUnbound(IEventChannelDomain caller, ushort dom, ushort remoteDom, out uint port)
    {
        port = 0;
        lock (_lock)
        {
            if (Find(caller, dom) is not { } domain)
                return -XenErrno.ESRCH;
            int free = FindFreePort(domain);
            if (free < 0)
                return free;
            // xsm_evtchn_unbound (XSM_TARGET), which Xen asks only once it has found a free port.
            if (!MayControl(caller, domain))
                return -XenErrno.EPERM;
            // remote_dom is not looked up: Xen lets a port wait for a domain that does not exist yet.
            domain.EventChannels.BindUnbound(free, remoteDom == DomainIds.Self ? caller.Id : remoteDom);
            port = (uint)free;
            return 0;
        }
    }

    /// <summary>
    /// evtchn_bind_interdomain: connects a new port of the caller to <paramref name="remotePort"/>,
    /// which must be Unbound and waiting for the caller. The new port starts pending, because sends
    /// to the remote port while it was unbound were dropped.
    /// </summary>
    public int BindInterdomain(IEventChannelDomain caller, ushort remoteDom, uint remotePort, out uint localPort)
    {
        localPort = 0;
        lock (_lock)
        {
            if (Find(caller, remoteDom) is not { } remote)
                return -XenErrno.ESRCH;
            int port = FindFreePort(caller);
            if (port < 0)
                return port;
            EventChannelTable remoteTable = remote.EventChannels;
            if (!remoteTable.IsValidPort(remotePort))
                return -XenErrno.EINVAL;
            EventChannelBinding waiting = remoteTable[(int)remotePort];
            if (waiting.State != EventChannelState.Unbound || waiting.RemoteDomain != caller.Id)
                return -XenErrno.EINVAL;
            caller.EventChannels.BindInterdomain(port, remote, (int)remotePort);
            remoteTable.BindInterdomain((int)remotePort, caller, port);
            Deliver(caller, caller.EventChannels[port].NotifyVcpu, port);
            localPort = (uint)port;
            return 0;
        }
    }

    /// <summary>evtchn_bind_virq: a new port for <paramref name="virq"/> on <paramref name="vcpu"/> (a global VIRQ only on vCPU 0).</summary>
    public int BindVirq(IEventChannelDomain caller, uint virq, uint vcpu, out uint port)
    {
        port = 0;
        if (virq >= Virq.Count)
            return -XenErrno.EINVAL;
        // A global VIRQ is bound on vCPU 0 and may be moved with bind_vcpu afterwards.
        if (Virq.IsGlobal((int)virq) && vcpu != 0)
            return -XenErrno.EINVAL;
        if (vcpu >= (uint)caller.VcpuCount)
            return -XenErrno.ENOENT;
        lock (_lock)
        {
            EventChannelTable table = caller.EventChannels;
            if (table.VirqPort((int)vcpu, (int)virq) != 0)
                return -XenErrno.EEXIST;
            int free = FindFreePort(caller);
            if (free < 0)
                return free;
            table.BindVirq(free, (int)vcpu, (int)virq);
            port = (uint)free;
            return 0;
        }
    }

    /// <summary>evtchn_bind_ipi: a new port that notifies <paramref name="vcpu"/> when the domain sends on it.</summary>
    public int BindIpi(IEventChannelDomain caller, uint vcpu, out uint port)
    {
        port = 0;
        if (vcpu >= (uint)caller.VcpuCount)
            return -XenErrno.ENOENT;
        lock (_lock)
        {
            int free = FindFreePort(caller);
            if (free < 0)
                return free;
            caller.EventChannels.BindIpi(free, (int)vcpu);
            port = (uint)free;
            return 0;
        }
    }

    /// <summary>
    /// evtchn_bind_vcpu: which vCPU an Unbound, Interdomain or global-VIRQ port notifies. IPIs and
    /// per-vCPU VIRQs keep the vCPU they were bound on (-EINVAL). Events already pending stay where
    /// they were signalled, as on Xen.
    /// </summary>
    public int BindVcpu(IEventChannelDomain caller, uint port, uint vcpu)
    {
        if (vcpu >= (uint)caller.VcpuCount)
            return -XenErrno.ENOENT;
        lock (_lock)
        {
            EventChannelTable table = caller.EventChannels;
            if (!table.IsValidPort(port))
                return -XenErrno.EINVAL;
            EventChannelBinding binding = table[(int)port];
            bool movable = binding.State switch
            {
                EventChannelState.Unbound or EventChannelState.Interdomain => true,
                EventChannelState.Virq => Virq.IsGlobal(binding.Virq),
                _ => false,
            };
            if (!movable)
                return -XenErrno.EINVAL;
            table.SetNotifyVcpu((int)port, (int)vcpu);
            return 0;
        }
    }

    /// <summary>evtchn_close: frees the port; an Interdomain peer goes back to Unbound, waiting for the caller again.</summary>
    public int Close(IEventChannelDomain caller, uint port)
    {
        lock (_lock)
            return ClosePort(caller, port);
    }

    /// <summary>
    /// evtchn_send: an Interdomain port signals the peer's port (on the vCPU that port notifies), an
    /// IPI port itself; a send on an Unbound port is dropped without error.
    /// </summary>
    public int Send(IEventChannelDomain caller, uint port)
    {
        lock (_lock)
        {
            EventChannelTable table = caller.EventChannels;
            if (!table.IsValidPort(port))
                return -XenErrno.EINVAL;
            EventChannelBinding binding = table[(int)port];
            switch (binding.State)
            {
                case EventChannelState.Interdomain:
                    IEventChannelDomain peer = table.Peer((int)port);
                    Deliver(peer, peer.EventChannels[binding.RemotePort].NotifyVcpu, binding.RemotePort);
                    return 0;
                case EventChannelState.Ipi:
                    Deliver(caller, binding.NotifyVcpu, (int)port);
                    return 0;
                case EventChannelState.Unbound:
                    return 0;
                default:
                    return -XenErrno.EINVAL;
            }
        }
    }

    /// <summary>evtchn_status: what port <paramref name="port"/> of <paramref name="dom"/> is bound to, as EVTCHNSTAT_* and its union.</summary>
    public int Status(IEventChannelDomain caller, ushort dom, uint port, out EventChannelStatus status)
    {
        status = new EventChannelStatus { Dom = dom, Port = port };
        lock (_lock)
        {
            if (Find(caller, dom) is not { } domain)
                return -XenErrno.ESRCH;
            if (!domain.EventChannels.IsValidPort(port))
                return -XenErrno.EINVAL;
            // xsm_evtchn_status (XSM_TARGET), asked after the port check.
            if (!MayControl(caller, domain))
                return -XenErrno.EPERM;
            EventChannelBinding binding = domain.EventChannels[(int)port];
            status.Vcpu = (uint)binding.NotifyVcpu;
            switch (binding.State)
            {
                case EventChannelState.Free or EventChannelState.Reserved:
                    status.Status = EvtchnStat.Closed;
                    break;
                case EventChannelState.Unbound:
                    status.Status = EvtchnStat.Unbound;
                    status.RemoteDom = binding.RemoteDomain;
                    break;
                case EventChannelState.Interdomain:
                    status.Status = EvtchnStat.Interdomain;
                    status.RemoteDom = binding.RemoteDomain;
                    status.RemotePort = (uint)binding.RemotePort;
                    break;
                case EventChannelState.Virq:
                    status.Status = EvtchnStat.Virq;
                    status.Virq = (uint)binding.Virq;
                    break;
                case EventChannelState.Ipi:
                    status.Status = EvtchnStat.Ipi;
                    break;
            }
            return 0;
        }
    }

    /// <summary>
    /// evtchn_unmask: clears the port's mask bit and re-raises it if it is pending (evtchn_2l_unmask).
    /// Like Xen's evtchn_port_unmask, a port that is not bound (Free, port 0) is left alone.
    /// </summary>
    public int Unmask(IEventChannelDomain caller, uint port)
    {
        lock (_lock)
        {
            EventChannelTable table = caller.EventChannels;
            if (!table.IsValidPort(port))
                return -XenErrno.EINVAL;
            EventChannelBinding binding = table[(int)port];
            if (IsBound(binding.State))
                TwoLevelEvents.Unmask(caller, binding.NotifyVcpu, (int)port);
            return 0;
        }
    }

    /// <summary>
    /// EVTCHNOP_reset (evtchn_reset): closes every port of <paramref name="dom"/>. It runs to the end
    /// under the lock (at most 4095 ports), so it never needs Xen's continuation.
    /// </summary>
    public int Reset(IEventChannelDomain caller, ushort dom)
    {
        lock (_lock)
        {
            if (Find(caller, dom) is not { } domain)
                return -XenErrno.ESRCH;
            // xsm_evtchn_reset (XSM_TARGET). Xen also wants a foreign target paused by its
            // controller (-EINVAL otherwise); there is no such pause here, and no privileged guest.
            if (!MayControl(caller, domain))
                return -XenErrno.EPERM;
            CloseEveryPort(domain);
            return 0;
        }
    }

    /// <summary>
    /// Raises <paramref name="virq"/> for the domain (send_guest_vcpu_virq / send_guest_global_virq):
    /// a per-vCPU VIRQ on <paramref name="vcpu"/>'s binding; a global one (<paramref name="vcpu"/>
    /// ignored) on its one binding, at whichever vCPU that port notifies. False when not bound, or
    /// when the domain is dying.
    /// </summary>
    public bool RaiseVirq(IEventChannelDomain domain, int vcpu, int virq)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(virq);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(virq, Virq.Count);
        bool global = Virq.IsGlobal(virq);
        if (!global)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(vcpu);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(vcpu, domain.VcpuCount);
        }
        lock (_lock)
        {
            if (domain.IsDying)
                return false;
            EventChannelTable table = domain.EventChannels;
            int port = table.VirqPort(global ? 0 : vcpu, virq);
            if (port == 0)
                return false;
            Deliver(domain, table[port].NotifyVcpu, port);
            return true;
        }
    }

    /// <summary>Whether a bound port is pending (what SCHEDOP_poll waits for); false for a port that is not bound.</summary>
    public bool IsPending(IEventChannelDomain domain, int port)
    {
        lock (_lock)
        {
            EventChannelTable table = domain.EventChannels;
            return port >= 0 && table.IsValidPort((uint)port) && IsBound(table[port].State) && TwoLevelEvents.IsPending(domain, port);
        }
    }

    /// <summary>
    /// Closes every port of a domain being destroyed (evtchn_destroy): each peer's end goes back to
    /// Unbound. Call it once the domain is dying, so that it allocates nothing afterwards.
    /// </summary>
    public void CloseAll(IEventChannelDomain domain)
    {
        lock (_lock)
            CloseEveryPort(domain);
    }

    /// <summary>rcu_lock_domain_by_any_id: DOMID_SELF is the caller.</summary>
    private IEventChannelDomain? Find(IEventChannelDomain caller, ushort dom) =>
        dom == DomainIds.Self || dom == caller.Id ? caller : findDomain(dom);

    /// <summary>XSM's default XSM_TARGET policy: a domain acts on itself, only a privileged one on others.</summary>
    private static bool MayControl(IEventChannelDomain caller, IEventChannelDomain target) =>
        caller.IsPrivileged || target.Id == caller.Id;

    /// <summary>get_free_port: -EINVAL once the domain is dying, -ENOSPC when every port is in use.</summary>
    private static int FindFreePort(IEventChannelDomain domain) =>
        domain.IsDying ? -XenErrno.EINVAL : domain.EventChannels.FindFreePort();

    /// <summary>evtchn_usable: only bound ports are signalled, unmasked or reported pending.</summary>
    private static bool IsBound(EventChannelState state) => state > EventChannelState.Reserved;

    /// <summary>evtchn_port_set_pending, except that a dying domain receives nothing.</summary>
    private static void Deliver(IEventChannelDomain domain, int vcpu, int port)
    {
        if (!domain.IsDying)
            TwoLevelEvents.SetPending(domain, vcpu, port);
    }

    private static int ClosePort(IEventChannelDomain domain, uint port)
    {
        EventChannelTable table = domain.EventChannels;
        if (!table.IsValidPort(port))
            return -XenErrno.EINVAL;
        EventChannelBinding binding = table[(int)port];
        switch (binding.State)
        {
            case EventChannelState.Free or EventChannelState.Reserved:
                return -XenErrno.EINVAL;
            case EventChannelState.Interdomain:
                table.Peer((int)port).EventChannels.BindUnbound(binding.RemotePort, domain.Id);
                break;
        }
        // evtchn_free: a later binding of this port must not start with this one's event pending.
        TwoLevelEvents.ClearPending(domain, (int)port);
        table.Free((int)port);
        return 0;
    }

    private static void CloseEveryPort(IEventChannelDomain domain)
    {
        EventChannelTable table = domain.EventChannels;
        for (int port = 1; port <= table.MaxPort; port++)
            if (table[port].State != EventChannelState.Free)
                ClosePort(domain, (uint)port);
    }
}
