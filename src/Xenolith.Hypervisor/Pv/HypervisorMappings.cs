using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Pv;

/// <summary>
/// One domain's page tables for the trampoline slot: an L3, an L2 and L1s, all owned by Xen, that
/// every L4 of the domain points at. The guest can neither see (supervisor-only) nor map (not its
/// frames) anything here except the read-only syscall stub.
/// </summary>
public sealed class HypervisorMappings
{
    private const ulong TableFlags = Pte.Present | Pte.Writable | Pte.User | Pte.Accessed | Pte.Dirty;
    private const ulong SupervisorData = Pte.Present | Pte.Writable | Pte.Accessed | Pte.Dirty | Pte.NoExecute;
    private const ulong SupervisorReadOnly = Pte.Present | Pte.Accessed | Pte.NoExecute;

    private readonly MachineMemory _memory;
    private readonly Trampoline _trampoline;
    private readonly List<ulong> _frames = [];
    private readonly Dictionary<int, ulong> _l1ByL2Index = [];
    private readonly ulong _l2Mfn;

    public HypervisorMappings(MachineMemory memory, Trampoline trampoline)
    {
        _memory = memory;
        _trampoline = trampoline;
        L3Mfn = Take();
        _l2Mfn = Take();
        Entries(L3Mfn)[Pte.Index(HypervisorLayout.Base, 3)] = Pte.Make(_l2Mfn, TableFlags);
        Map(HypervisorLayout.IdtVa, trampoline.IdtMfn, SupervisorReadOnly);
        Map(HypervisorLayout.StubsVa, trampoline.StubsMfn, Pte.Present | Pte.Accessed);
        Map(HypervisorLayout.SyscallStubVa, trampoline.SyscallMfn, Pte.Present | Pte.User | Pte.Accessed);
        Map(HypervisorLayout.ShadowSyncVa, trampoline.ShadowSyncMfn, Pte.Present | Pte.Accessed);
    }

    public ulong L3Mfn { get; }

    /// <summary>The L4 entry to place in slot <see cref="HypervisorLayout.TrampolineSlot"/> of every guest L4.</summary>
    public ulong L4Entry => Pte.Make(L3Mfn, TableFlags);

    /// <summary>
    /// Xen's init_xen_l4_slots: the hypervisor's entries in PML4 slots 256-271 of a guest L4 (the
    /// read-only M2P, the trampoline, the directmap); every other slot in that range is cleared.
    /// </summary>
    public void WriteL4Slots(Span<ulong> l4)
    {
        int first = Pte.Index(Abi.X86Layout.HypervisorVirtStart, 4);
        l4[first..(first + HypervisorSlots)].Clear();
        l4[HypervisorLayout.M2pSlot] = Pte.Make(_trampoline.M2pL3Mfn, Pte.Present | Pte.User | Pte.Accessed);
        l4[HypervisorLayout.TrampolineSlot] = L4Entry;
        l4[HypervisorLayout.DirectmapSlot] = Pte.Make(_trampoline.DirectmapL3Mfn, TableFlags & ~Pte.User);
    }

    /// <summary>PML4 slots 256-271 belong to the hypervisor.</summary>
    public const int HypervisorSlots = 16;

    /// <summary>All frames this domain's trampoline owns, to free when the domain dies.</summary>
    public IReadOnlyList<ulong> Frames => _frames;

    /// <summary>Builds a vCPU's GDT, TSS and stacks and maps them at its area.</summary>
    public VcpuArea CreateVcpuArea(int vcpu)
    {
        ulong va = HypervisorLayout.VcpuArea(vcpu);
        ulong[] shadow = new ulong[Abi.X86Layout.FirstReservedGdtPage];
        for (int page = 0; page < shadow.Length; page++)
            shadow[page] = Take();
        var area = new VcpuArea(va, Take(), Take(), [Take(), Take()], Take(), shadow, Take());
        for (int page = 0; page < HypervisorLayout.GdtPages; page++)
        {
            ulong pageVa = va + HypervisorLayout.GdtOffset + (ulong)page * MachineMemory.PageSize;
            if (page == Abi.X86Layout.FirstReservedGdtPage)
                Map(pageVa, area.ReservedGdtMfn, SupervisorData);
            else if (page < Abi.X86Layout.FirstReservedGdtPage)
                Map(pageVa, shadow[page], SupervisorData);
            else
                Map(pageVa, _trampoline.ZeroMfn, SupervisorReadOnly);
        }
        Map(va + HypervisorLayout.TssOffset, area.TssMfn, SupervisorData);
        for (int page = 0; page < HypervisorLayout.StackPages; page++)
            Map(va + HypervisorLayout.StackOffset + (ulong)page * MachineMemory.PageSize, area.StackMfns[page], SupervisorData);
        Map(va + HypervisorLayout.IstStackOffset, area.IstMfn, SupervisorData);
        Map(va + HypervisorLayout.ShadowSyncListOffset, area.ShadowSyncListMfn, SupervisorReadOnly);
        TrampolineCode.WriteReservedGdtPage(_memory.Frame(area.ReservedGdtMfn), area.TssVa);
        TrampolineCode.WriteTss(_memory.Frame(area.TssMfn), area.StackTopVa, area.IstStackTopVa);
        return area;
    }

    private void Map(ulong va, ulong mfn, ulong flags)
    {
        int l2Index = Pte.Index(va, 2);
        if (!_l1ByL2Index.TryGetValue(l2Index, out ulong l1Mfn))
        {
            l1Mfn = Take();
            _l1ByL2Index[l2Index] = l1Mfn;
            Entries(_l2Mfn)[l2Index] = Pte.Make(l1Mfn, TableFlags);
        }
        Entries(l1Mfn)[Pte.Index(va, 1)] = Pte.Make(mfn, flags);
    }

    private Span<ulong> Entries(ulong mfn) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(_memory.Frame(mfn));

    private ulong Take()
    {
        ulong mfn = _memory.Allocate(DomainIds.Xen);
        _frames.Add(mfn);
        return mfn;
    }
}

/// <summary>
/// One vCPU's private trampoline pages. <paramref name="GdtShadowMfns"/> are the 14 frames behind
/// GDT pages 0..13: the hypervisor's validated copy of the guest's GDT (see GuestGdt).
/// </summary>
public sealed record VcpuArea(ulong Va, ulong ReservedGdtMfn, ulong TssMfn, ulong[] StackMfns, ulong IstMfn, ulong[] GdtShadowMfns,
    ulong ShadowSyncListMfn)
{
    public ulong ShadowSyncListVa => Va + HypervisorLayout.ShadowSyncListOffset;
    public ulong GdtVa => Va + HypervisorLayout.GdtOffset;
    public ulong TssVa => Va + HypervisorLayout.TssOffset;
    public ulong StackTopVa => Va + HypervisorLayout.StackTopOffset;
    public ulong IstStackTopVa => Va + HypervisorLayout.IstStackTopOffset;

    /// <summary>Machine address of a hypervisor-stack virtual address, or null if it is not on this vCPU's stacks.</summary>
    public ulong? StackMachineAddress(ulong va, int length)
    {
        ulong stackBase = Va + HypervisorLayout.StackOffset;
        if (va >= stackBase && va + (ulong)length <= Va + HypervisorLayout.StackTopOffset)
        {
            ulong offset = va - stackBase;
            ulong page = offset >> MachineMemory.PageShift;
            if (((offset + (ulong)length - 1) >> MachineMemory.PageShift) != page)
                return null;
            return (StackMfns[page] << MachineMemory.PageShift) | (offset & 0xfff);
        }
        ulong istBase = Va + HypervisorLayout.IstStackOffset;
        if (va >= istBase && va + (ulong)length <= Va + HypervisorLayout.IstStackTopOffset)
            return (IstMfn << MachineMemory.PageShift) | (va - istBase);
        return null;
    }
}
