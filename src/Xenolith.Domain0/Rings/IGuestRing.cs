namespace Xenolith.Domain0.Rings;

/// <summary>
/// A page a guest shares with Domain0 and the event channel that goes with it, as a backend holds
/// them (Xen: a foreign mapping or grant mapping, and a bound evtchn). Disposing unbinds the port
/// and lets go of the page.
/// </summary>
public interface IGuestRing : IDisposable
{
    ushort DomainId { get; }

    /// <summary>The shared page, writable. Every byte in it is the guest's to change at any time.</summary>
    Span<byte> Page { get; }

    /// <summary>Signals the guest on the ring's event channel.</summary>
    void Notify();
}

/// <summary>How backends reach a guest's ring: the hypervisor in production, plain memory in tests.</summary>
public interface IGuestRingConnector
{
    /// <summary>
    /// Maps frame <paramref name="mfn"/> of domain <paramref name="domid"/> and binds its port
    /// <paramref name="remotePort"/> (unbound, waiting for Domain0); <paramref name="onSignal"/>
    /// runs on Domain0's event thread whenever the guest signals, and once straight away. Null,
    /// with a negative Xen errno in <paramref name="error"/>, if the domain, the frame or the port
    /// is not what it should be.
    /// </summary>
    IGuestRing? TryConnect(ushort domid, ulong mfn, uint remotePort, Action onSignal, out int error);

    /// <summary>Completes when the domain has ended (at once for a domain that does not exist).</summary>
    Task DomainEnded(ushort domid);
}
