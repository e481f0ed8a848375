using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Grants;

/// <summary>
/// Domain0's mapping of one granted page (what a backend gets from gntdev): the page as a span,
/// writable only when mapped writable, valid until disposed. While it lives the grant is pinned
/// (the granter sees GTF_reading/GTF_writing and cannot end the grant) and the frame holds a
/// foreign reference, so it stays Domain0's to use even if the granter dies first.
/// </summary>
public sealed class HostGrantMapping : IDisposable
{
    private readonly GrantTables _grants;
    private int _disposed;

    internal HostGrantMapping(GrantTables grants, GrantTable table, uint gref, HostFrameMapping frame)
    {
        _grants = grants;
        Table = table;
        Ref = gref;
        Frame = frame;
    }

    internal GrantTable Table { get; }
    internal HostFrameMapping Frame { get; }

    /// <summary>The granting domain.</summary>
    public ushort Granter => Frame.Domain;

    public uint Ref { get; }

    /// <summary>The granted frame's machine frame number.</summary>
    public ulong Mfn => Frame.Mfn;

    public bool IsReadOnly => !Frame.IsWritable;

    /// <summary>The 4 KiB page, writable; throws for a read-only mapping and after disposal.</summary>
    public Span<byte> Span => Frame.Span;

    /// <summary>The 4 KiB page; throws after disposal.</summary>
    public ReadOnlySpan<byte> ReadOnlySpan => Frame.ReadOnlySpan;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            _grants.UnmapForDomain0(this);
    }
}
