using Xenolith.Abi;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Grants;

// The in-process API Domain0's backends use: what a Linux dom0's gntdev mapping and its
// GNTTABOP_copy calls do, for a Domain0 that is the host process (domain id 0, no Domain object).
// Grants must name domain 0 as their grantee.
public sealed partial class GrantTables
{
    /// <summary>
    /// Maps grant <paramref name="gref"/> of domain <paramref name="granter"/> into Domain0:
    /// GNTST_okay and the mapping, or a GNTST code and null (bad_domain, bad_gntref, general_error
    /// for an entry that does not grant Domain0 this access, bad_page). While the mapping lives the
    /// granter sees GTF_reading (and GTF_writing unless <paramref name="readOnly"/>) and the frame
    /// holds a foreign reference, so it survives the granter's death until the mapping is disposed.
    /// </summary>
    public short TryMapForDomain0(ushort granter, uint gref, bool readOnly, out HostGrantMapping? mapping)
    {
        mapping = null;
        uint pin = readOnly ? GrantPin.HostRead : GrantPin.HostWrite;
        lock (_lock)
        {
            if (FindLiveDomain(granter) is not { } domain || EnsureTable(domain) is not { } table)
                return GrantStatus.BadDomain;
            short rc = Pin(table, gref, DomainIds.Domain0, readOnly, mapping: true, pin, out ulong mfn);
            if (rc != GrantStatus.Okay)
                return rc;
            if (HostFrameMapping.TryMap(PageTypes, granter, mfn, writable: !readOnly, out HostFrameMapping? frame) != 0)
            {
                Unpin(table, gref, pin, readOnly);
                return GrantStatus.GeneralError;
            }
            mapping = new HostGrantMapping(this, table, gref, frame!);
            return GrantStatus.Okay;
        }
    }

    /// <summary><see cref="TryMapForDomain0"/> for callers that treat a refusal as an error: throws <see cref="GrantException"/>.</summary>
    public HostGrantMapping MapForDomain0(ushort granter, uint gref, bool readOnly)
    {
        short rc = TryMapForDomain0(granter, gref, readOnly, out HostGrantMapping? mapping);
        return mapping ?? throw new GrantException(rc, $"cannot map grant {gref} of domain {granter}");
    }

    /// <summary>Called once by <see cref="HostGrantMapping.Dispose"/>: the pin goes, then the frame reference.</summary>
    internal void UnmapForDomain0(HostGrantMapping mapping)
    {
        lock (_lock)
        {
            Unpin(mapping.Table, mapping.Ref, mapping.IsReadOnly ? GrantPin.HostRead : GrantPin.HostWrite, mapping.IsReadOnly);
            mapping.Frame.Dispose();
        }
    }

    /// <summary>
    /// GNTTABOP_copy from a grant into a Domain0 buffer: <paramref name="destination"/>.Length bytes
    /// from <paramref name="offset"/> in the granted page. Returns the GNTST status a copy from
    /// domain 0 would get (bad_copy_arg when the range leaves the page).
    /// </summary>
    public short CopyFromGrant(ushort granter, uint gref, int offset, Span<byte> destination)
    {
        lock (_lock)
        {
            short rc = ClaimForDomain0(granter, gref, writable: false, out CopySide side);
            if (rc == GrantStatus.Okay)
            {
                if (IsInPage(offset, destination.Length))
                    Memory.Frame(side.Mfn).Slice(offset, destination.Length).CopyTo(destination);
                else
                    rc = GrantStatus.BadCopyArg;
            }
            Release(ref side);
            return rc;
        }
    }

    /// <summary>GNTTABOP_copy from a Domain0 buffer into a grant, which must be writable for domain 0.</summary>
    public short CopyToGrant(ushort granter, uint gref, int offset, ReadOnlySpan<byte> source)
    {
        lock (_lock)
        {
            short rc = ClaimForDomain0(granter, gref, writable: true, out CopySide side);
            if (rc == GrantStatus.Okay)
            {
                if (IsInPage(offset, source.Length))
                    source.CopyTo(Memory.Frame(side.Mfn).Slice(offset, source.Length));
                else
                    rc = GrantStatus.BadCopyArg;
            }
            Release(ref side);
            return rc;
        }
    }

    private short ClaimForDomain0(ushort granter, uint gref, bool writable, out CopySide side)
    {
        side = default;
        if (FindLiveDomain(granter) is not { } domain)
            return GrantStatus.BadDomain;
        return Claim(DomainIds.Domain0, domain, new GrantCopyPointer { Ref = gref, DomId = granter }, isGrant: true, writable, ref side);
    }

    /// <summary>Xen checks offset + len against the page after claiming both sides; so does this.</summary>
    private static bool IsInPage(int offset, int length) =>
        offset >= 0 && length >= 0 && (long)offset + length <= MachineMemory.PageSize;
}

/// <summary>A grant operation Domain0 asked for was refused; <see cref="Status"/> is the GNTST code.</summary>
public sealed class GrantException(short status, string message) : Exception($"{message} (GNTST {status})")
{
    public short Status { get; } = status;
}
