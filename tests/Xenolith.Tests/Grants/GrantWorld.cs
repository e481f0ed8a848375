using System.Runtime.InteropServices;
using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Grants;
using Xenolith.Hypervisor.Memory;
using Xenolith.Tests.Memory;
using Xunit;

namespace Xenolith.Tests.Grants;

/// <summary>
/// Machine memory, page types and the grant service over fake domains, with the helpers the grant
/// tests share: an address space for a mapper, grant entries written the way a granting guest
/// writes them, and the invariant checker.
/// </summary>
public sealed class GrantWorld : IDisposable
{
    /// <summary>Where a mapper built by <see cref="AddressSpace"/> has its L1: L4[0] → L3[1] → L2[0] → L1, so 0x4000_0000 + n pages.</summary>
    public const ulong MapBase = 0x4000_0000;

    private readonly Dictionary<ushort, FakeGrantDomain> _domains = [];

    public GrantWorld()
    {
        Memory = new MachineMemory(2UL << 20);
        Types = new PageTypes(Memory);
        Grants = new GrantTables(Memory, Types, id => _domains.GetValueOrDefault(id));
        Checker = new PageTypeInvariantChecker(Memory);
    }

    public MachineMemory Memory { get; }
    public PageTypes Types { get; }
    public GrantTables Grants { get; }
    public PageTypeInvariantChecker Checker { get; }

    public FakeGrantDomain AddDomain(ushort id)
    {
        var domain = new FakeGrantDomain(id);
        _domains.Add(id, domain);
        return domain;
    }

    public ulong Allocate(IGrantDomain owner) => Memory.Allocate(owner.Id);

    public Span<ulong> Entries(ulong mfn) => MemoryMarshal.Cast<byte, ulong>(Memory.Frame(mfn));

    /// <summary>A pinned four-level address space of <paramref name="domain"/> with an empty L1 at <see cref="MapBase"/>: (CR3, the L1).</summary>
    public (ulong Cr3, ulong L1) AddressSpace(IGrantDomain domain)
    {
        ulong l4 = Allocate(domain), l3 = Allocate(domain), l2 = Allocate(domain), l1 = Allocate(domain);
        Entries(l4)[0] = Pte.Make(l3, Pte.Present | Pte.Writable);
        Entries(l3)[1] = Pte.Make(l2, Pte.Present | Pte.Writable);
        Entries(l2)[0] = Pte.Make(l1, Pte.Present | Pte.Writable);
        lock (Memory.SyncRoot)
            Assert.Equal(0, Types.Pin(l4, FrameType.L4PageTable, domain));
        return (l4 << MachineMemory.PageShift, l1);
    }

    /// <summary>The granter's table frames (setting it up to <paramref name="frames"/> frames).</summary>
    public ulong[] TableFrames(IGrantDomain granter, uint frames = 1)
    {
        Assert.Equal(GrantStatus.Okay, Grants.SetupTable(granter, DomainIds.Self, frames, out ulong[] list));
        return list;
    }

    /// <summary>What a granting guest does: domid and frame first, then the flags that make the entry valid.</summary>
    public void WriteGrant(IGrantDomain granter, uint gref, ushort grantee, ulong frame, ushort flags)
    {
        ref ulong entry = ref EntryWord(granter, gref);
        ulong value = (ulong)grantee << 16 | (ulong)frame << 32;
        Volatile.Write(ref entry, value);
        Volatile.Write(ref entry, value | flags);
    }

    /// <summary>A fresh frame of <paramref name="granter"/> granted to <paramref name="grantee"/> as <paramref name="gref"/>.</summary>
    public ulong Grant(IGrantDomain granter, uint gref, ushort grantee, bool readOnly = false)
    {
        ulong frame = Allocate(granter);
        WriteGrant(granter, gref, grantee, frame, (ushort)(GrantEntryFlags.PermitAccess | (readOnly ? GrantEntryFlags.ReadOnly : 0)));
        return frame;
    }

    public ushort Flags(IGrantDomain granter, uint gref) => (ushort)Volatile.Read(ref EntryWord(granter, gref));

    public ref ulong EntryWord(IGrantDomain granter, uint gref)
    {
        ulong[] frames = TableFrames(granter, gref / GrantTableLayout.EntriesPerFrameV1 + 1);
        ulong address = (frames[gref / GrantTableLayout.EntriesPerFrameV1] << MachineMemory.PageShift) + gref % GrantTableLayout.EntriesPerFrameV1 * 8;
        return ref Memory.Block.GetRef<ulong>(address);
    }

    public GrantMapGrantRef Map(IGrantDomain mapper, ulong cr3, ushort granter, uint gref, uint flags, ulong hostAddr = MapBase)
    {
        var op = new GrantMapGrantRef { HostAddr = hostAddr, Flags = flags, Ref = gref, Dom = granter, Handle = 0xdead };
        Grants.Map(mapper, cr3, ref op);
        return op;
    }

    public ulong EntryAt(ulong l1, int index) => Entries(l1)[index];

    public void Dispose()
    {
        Checker.Check("at the end of the test");
        Memory.Dispose();
    }
}

/// <summary>
/// A fresh world per test with a granter (domain 1) and a mapper (domain 2) whose address space
/// has an L1 at <see cref="GrantWorld.MapBase"/>: what the map and death tests start from.
/// </summary>
public abstract class GranterAndMapper : IDisposable
{
    protected const ushort Permit = GrantEntryFlags.PermitAccess;

    protected readonly GrantWorld _w = new();
    protected readonly FakeGrantDomain _granter;
    protected readonly FakeGrantDomain _mapper;
    protected readonly ulong _cr3;
    protected readonly ulong _l1;

    protected GranterAndMapper()
    {
        _granter = _w.AddDomain(1);
        _mapper = _w.AddDomain(2);
        (_cr3, _l1) = _w.AddressSpace(_mapper);
    }

    public void Dispose() => _w.Dispose();
}
