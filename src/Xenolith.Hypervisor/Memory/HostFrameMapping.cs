namespace Xenolith.Hypervisor.Memory;

/// <summary>
/// Domain0's view of one frame of a domain: what a backend or xenstored gets from Xen's foreign
/// mapping (privcmd) or from mapping a grant. It holds a foreign reference to the frame (and a
/// writable type reference when writable) until disposed, so the frame can be neither freed and
/// handed to another domain nor turned into a page table while Domain0 uses it; if its domain
/// dies first, the frame stays until this mapping lets go.
/// </summary>
public sealed class HostFrameMapping : IDisposable
{
    private readonly PageTypes _types;
    private int _disposed;

    private HostFrameMapping(PageTypes types, ushort domain, ulong mfn, bool writable)
    {
        _types = types;
        Domain = domain;
        Mfn = mfn;
        IsWritable = writable;
    }

    public ushort Domain { get; }
    public ulong Mfn { get; }
    public bool IsWritable { get; }

    /// <summary>
    /// Maps frame <paramref name="mfn"/> of domain <paramref name="domain"/>: 0, or -EINVAL when the
    /// domain does not own it, or -EBUSY when a writable mapping meets a page table.
    /// </summary>
    public static int TryMap(PageTypes types, ushort domain, ulong mfn, bool writable, out HostFrameMapping? mapping)
    {
        int rc;
        lock (types.Memory.SyncRoot)
            rc = types.GetForeignReference(mfn, domain, writable);
        mapping = rc == 0 ? new HostFrameMapping(types, domain, mfn, writable) : null;
        return rc;
    }

    /// <summary><see cref="TryMap"/> for callers that trust the frame (one the toolstack set up).</summary>
    public static HostFrameMapping Map(PageTypes types, ushort domain, ulong mfn, bool writable)
    {
        int rc = TryMap(types, domain, mfn, writable, out HostFrameMapping? mapping);
        return mapping ?? throw new InvalidOperationException($"cannot map mfn {mfn:x} of domain {domain} (error {rc})");
    }

    /// <summary>The page, writable: only for a writable mapping.</summary>
    public Span<byte> Span
    {
        get
        {
            if (!IsWritable)
                throw new InvalidOperationException("the mapping is read-only");
            return Page;
        }
    }

    public ReadOnlySpan<byte> ReadOnlySpan => Page;

    private Span<byte> Page
    {
        get
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            return _types.Memory.Frame(Mfn);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        lock (_types.Memory.SyncRoot)
            _types.PutForeignReference(Mfn, IsWritable);
    }
}
