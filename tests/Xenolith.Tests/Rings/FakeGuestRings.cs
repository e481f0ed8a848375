using Xenolith.Abi;
using Xenolith.Domain0.Rings;

namespace Xenolith.Tests.Rings;

/// <summary>A ring page in plain memory: the test plays the guest, signalling and counting the backend's notifications.</summary>
public sealed class FakeGuestRing(ushort domid, Action onSignal) : IGuestRing
{
    private readonly byte[] _page = new byte[4096];
    private int _notifications;

    public ushort DomainId { get; } = domid;

    public Span<byte> Page => IsDisposed ? throw new ObjectDisposedException(nameof(FakeGuestRing)) : _page;

    /// <summary>The page as the guest sees it, even after the backend let go.</summary>
    public Span<byte> GuestView => _page;

    public int Notifications => Volatile.Read(ref _notifications);

    public bool IsDisposed { get; private set; }

    public void Notify() => Interlocked.Increment(ref _notifications);

    /// <summary>The guest's EVTCHNOP_send: the backend's handler runs (here on the test's thread).</summary>
    public void Signal() => onSignal();

    public void Dispose() => IsDisposed = true;
}

/// <summary>Domains 1..9 exist, each with one ring frame (any mfn but <see cref="BadMfn"/>) and port.</summary>
public sealed class FakeRingConnector : IGuestRingConnector
{
    public const ulong BadMfn = 0xdead;

    private readonly Dictionary<ushort, TaskCompletionSource> _ended = [];

    public Dictionary<ushort, FakeGuestRing> Rings { get; } = [];

    public IGuestRing? TryConnect(ushort domid, ulong mfn, uint remotePort, Action onSignal, out int error)
    {
        error = domid is < 1 or > 9 ? -XenErrno.ESRCH : mfn == BadMfn ? -XenErrno.EINVAL : 0;
        if (error != 0)
            return null;
        var ring = new FakeGuestRing(domid, onSignal);
        Rings[domid] = ring;
        return ring;
    }

    public Task DomainEnded(ushort domid)
    {
        lock (_ended)
        {
            if (!_ended.TryGetValue(domid, out TaskCompletionSource? ended))
                _ended[domid] = ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return ended.Task;
        }
    }

    /// <summary>The domain dies.</summary>
    public void End(ushort domid)
    {
        DomainEnded(domid);
        lock (_ended)
            _ended[domid].TrySetResult();
    }
}
