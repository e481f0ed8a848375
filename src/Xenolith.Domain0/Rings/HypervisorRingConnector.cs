using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Domain0.Rings;

/// <summary>
/// Rings of real domains: the page through <see cref="HostFrameMapping"/> (a counted reference, so
/// a guest that gives the frame back or dies cannot have it reused under the backend), the port
/// through <see cref="XenHypervisor.Domain0Events"/>.
/// </summary>
public sealed class HypervisorRingConnector(XenHypervisor xen) : IGuestRingConnector
{
    public IGuestRing? TryConnect(ushort domid, ulong mfn, uint remotePort, Action onSignal, out int error)
    {
        if (xen.FindDomain(domid) is null)
        {
            error = -XenErrno.ESRCH;
            return null;
        }
        error = HostFrameMapping.TryMap(xen.PageTypes, domid, mfn, writable: true, out HostFrameMapping? mapping);
        if (mapping is null)
            return null;
        error = xen.Domain0Events.BindInterdomain(domid, remotePort, onSignal, out uint localPort);
        if (error != 0)
        {
            mapping.Dispose();
            return null;
        }
        return new MappedRing(xen, domid, mapping, localPort);
    }

    public Task DomainEnded(ushort domid) => xen.FindDomain(domid)?.Exited ?? Task.CompletedTask;

    private sealed class MappedRing(XenHypervisor xen, ushort domid, HostFrameMapping mapping, uint localPort) : IGuestRing
    {
        private int _disposed;

        public ushort DomainId => domid;

        public Span<byte> Page => mapping.Span;

        public void Notify() => xen.Domain0Events.Notify(localPort);

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            xen.Domain0Events.Unbind(localPort);
            mapping.Dispose();
        }
    }
}
