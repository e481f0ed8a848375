using Xenolith.Abi;

namespace Xenolith.Hypervisor.Events;

/// <summary>What a port is bound to (Xen's ECS_* channel states; no PIRQ, since no domain has physical IRQs).</summary>
public enum EventChannelState : byte
{
    Free,
    /// <summary>Port 0: never allocated, so 0 can mean "no port".</summary>
    Reserved,
    /// <summary>Waiting for <see cref="EventChannelBinding.RemoteDomain"/> to bind to it.</summary>
    Unbound,
    /// <summary>Connected to <see cref="EventChannelBinding.RemotePort"/> of <see cref="EventChannelBinding.RemoteDomain"/>.</summary>
    Interdomain,
    Virq,
    Ipi,
}

/// <summary>
/// One port as its domain's table holds it. <see cref="RemoteDomain"/> is meaningful for Unbound
/// and Interdomain ports, <see cref="RemotePort"/> for Interdomain, <see cref="Virq"/> for Virq;
/// each is 0 otherwise.
/// </summary>
public readonly record struct EventChannelBinding(EventChannelState State, int NotifyVcpu, ushort RemoteDomain, int RemotePort, int Virq);

/// <summary>
/// One domain's event-channel ports (the state half of Xen's struct evtchn array) and its per-vCPU
/// VIRQ-to-port bindings. The pending and mask bits live in the domain's shared_info, not here.
/// Only <see cref="EventChannels"/> changes a table, under its lock; a read without that lock may
/// see a port halfway through a change.
/// </summary>
public sealed class EventChannelTable
{
    /// <summary>The highest port a domU may use unless configured otherwise (libxl's default max_event_channels).</summary>
    public const int DefaultMaxPort = 1023;

    private struct Port
    {
        public EventChannelState State;
        public int NotifyVcpu;
        public ushort RemoteDomainId;
        public IEventChannelDomain? Peer;
        public int RemotePort;
        public int Virq;
    }

    private readonly Port[] _ports;

    /// <summary>vcpu * Virq.Count + virq → port (0: unbound); grows with the highest vCPU that binds one.</summary>
    private int[] _virqPorts = [];

    /// <param name="maxPort">Xen's max_evtchn_port: the highest port the domain may allocate. The
    /// 2-level ABI has room for no more than 4096 ports.</param>
    public EventChannelTable(int maxPort = DefaultMaxPort)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(maxPort, TwoLevelEventChannels.MaxPorts);
        MaxPort = maxPort;
        _ports = new Port[maxPort + 1];
        _ports[0].State = EventChannelState.Reserved;
    }

    public int MaxPort { get; }

    /// <summary>Xen's port_is_valid. Every port up to <see cref="MaxPort"/> exists here (Xen grows its array in buckets).</summary>
    public bool IsValidPort(uint port) => port <= (uint)MaxPort;

    public EventChannelBinding this[int port]
    {
        get
        {
            ref readonly Port p = ref _ports[port];
            ushort remote = p.State switch
            {
                EventChannelState.Unbound => p.RemoteDomainId,
                EventChannelState.Interdomain => p.Peer!.Id,
                _ => 0,
            };
            return new EventChannelBinding(p.State, p.NotifyVcpu, remote, p.RemotePort, p.Virq);
        }
    }

    /// <summary>The port <paramref name="virq"/> is bound to on <paramref name="vcpu"/> (a global VIRQ: on vCPU 0), or 0.</summary>
    public int VirqPort(int vcpu, int virq)
    {
        int index = vcpu * Virq.Count + virq;
        return index < _virqPorts.Length ? _virqPorts[index] : 0;
    }

    /// <summary>The other end of an Interdomain port.</summary>
    internal IEventChannelDomain Peer(int port) => _ports[port].Peer!;

    /// <summary>get_free_port: the lowest free port, or -ENOSPC when every port up to <see cref="MaxPort"/> is in use.</summary>
    internal int FindFreePort()
    {
        for (int port = 1; port < _ports.Length; port++)
            if (_ports[port].State == EventChannelState.Free)
                return port;
        return -XenErrno.ENOSPC;
    }

    internal void BindUnbound(int port, ushort remoteDomain) =>
        _ports[port] = _ports[port] with { State = EventChannelState.Unbound, RemoteDomainId = remoteDomain, Peer = null, RemotePort = 0 };

    internal void BindInterdomain(int port, IEventChannelDomain peer, int peerPort) =>
        _ports[port] = _ports[port] with { State = EventChannelState.Interdomain, RemoteDomainId = 0, Peer = peer, RemotePort = peerPort };

    internal void BindVirq(int port, int vcpu, int virq)
    {
        _ports[port] = new Port { State = EventChannelState.Virq, NotifyVcpu = vcpu, Virq = virq };
        int index = vcpu * Virq.Count + virq;
        if (index >= _virqPorts.Length)
            Array.Resize(ref _virqPorts, (vcpu + 1) * Virq.Count);
        _virqPorts[index] = port;
    }

    internal void BindIpi(int port, int vcpu) => _ports[port] = new Port { State = EventChannelState.Ipi, NotifyVcpu = vcpu };

    internal void SetNotifyVcpu(int port, int vcpu) => _ports[port].NotifyVcpu = vcpu;

    /// <summary>
    /// The state half of Xen's evtchn_free (the caller clears the pending bit): the port becomes
    /// Free, notifying vCPU 0 when it is reused, and a VIRQ's binding goes with it.
    /// </summary>
    internal void Free(int port)
    {
        ref Port p = ref _ports[port];
        if (p.State == EventChannelState.Virq)
            _virqPorts[(Virq.IsGlobal(p.Virq) ? 0 : p.NotifyVcpu) * Virq.Count + p.Virq] = 0;
        p = default;
    }
}
