using System.Runtime.InteropServices;
using Xenolith.Hypervisor.Memory;

namespace Xenolith.Hypervisor.Pv;

/// <summary>
/// The trampoline frames every domain shares: IDT, trap stubs, syscall stub, shadow-sync stub, a zero
/// page, and the directmap's tables.
/// </summary>
public sealed class Trampoline
{
    private const ulong TableFlags = Pte.Present | Pte.Writable | Pte.Accessed | Pte.Dirty;
    private const ulong DirectmapFlags = Pte.Present | Pte.Writable | Pte.Accessed | Pte.Dirty | Pte.LargePage | Pte.NoExecute;
    private const ulong LargePageSize = 1UL << 21;

    public Trampoline(MachineMemory memory)
    {
        IdtMfn = memory.Allocate(DomainIds.Xen);
        StubsMfn = memory.Allocate(DomainIds.Xen);
        SyscallMfn = memory.Allocate(DomainIds.Xen);
        ZeroMfn = memory.Allocate(DomainIds.Xen);
        ShadowSyncMfn = memory.Allocate(DomainIds.Xen);
        TrampolineCode.WriteIdt(memory.Frame(IdtMfn));
        TrampolineCode.WriteShadowSyncPage(memory.Frame(ShadowSyncMfn));
        DirectmapL3Mfn = BuildDirectmap(memory);
        M2pL3Mfn = BuildM2pMapping(memory);
        TrampolineCode.WriteStubPage(memory.Frame(StubsMfn));
        TrampolineCode.WriteSyscallPage(memory.Frame(SyscallMfn));
    }

    public ulong IdtMfn { get; }
    public ulong StubsMfn { get; }
    public ulong SyscallMfn { get; }
    public ulong ZeroMfn { get; }
    public ulong ShadowSyncMfn { get; }

    /// <summary>The L3 behind <see cref="HypervisorLayout.DirectmapSlot"/>, shared by every domain.</summary>
    public ulong DirectmapL3Mfn { get; }

    /// <summary>The L3 behind <see cref="HypervisorLayout.M2pSlot"/>: the M2P, user-readable, shared by every domain.</summary>
    public ulong M2pL3Mfn { get; }

    /// <summary>Maps the M2P frames read-only, user-accessible, in order from <see cref="HypervisorLayout.M2pBase"/>.</summary>
    private static ulong BuildM2pMapping(MachineMemory memory)
    {
        const ulong upper = Pte.Present | Pte.User | Pte.Accessed;
        const ulong leaf = Pte.Present | Pte.User | Pte.Accessed | Pte.NoExecute;
        ulong l3 = memory.Allocate(DomainIds.Xen);
        var l2ByIndex = new Dictionary<int, ulong>();
        var l1ByIndex = new Dictionary<(int, int), ulong>();
        IReadOnlyList<ulong> frames = memory.MachineToPhysFrames;
        for (int i = 0; i < frames.Count; i++)
        {
            ulong va = (ulong)i << MachineMemory.PageShift;
            int i3 = Pte.Index(va, 3), i2 = Pte.Index(va, 2);
            if (!l2ByIndex.TryGetValue(i3, out ulong l2))
            {
                l2 = l2ByIndex[i3] = memory.Allocate(DomainIds.Xen);
                MemoryMarshal.Cast<byte, ulong>(memory.Frame(l3))[i3] = Pte.Make(l2, upper);
            }
            if (!l1ByIndex.TryGetValue((i3, i2), out ulong l1))
            {
                l1 = l1ByIndex[(i3, i2)] = memory.Allocate(DomainIds.Xen);
                MemoryMarshal.Cast<byte, ulong>(memory.Frame(l2))[i2] = Pte.Make(l1, upper);
            }
            MemoryMarshal.Cast<byte, ulong>(memory.Frame(l1))[Pte.Index(va, 1)] = Pte.Make(frames[i], leaf);
        }
        return l3;
    }

    /// <summary>Maps the whole pool at <see cref="HypervisorLayout.DirectmapBase"/> with 2 MiB pages.</summary>
    private static ulong BuildDirectmap(MachineMemory memory)
    {
        ulong bytes = memory.FrameCount << MachineMemory.PageShift;
        if (bytes > HypervisorLayout.DirectmapSize)
            throw new ArgumentOutOfRangeException(nameof(memory), "machine memory larger than the directmap slot");
        ulong l3 = memory.Allocate(DomainIds.Xen);
        Span<ulong> l3Entries = MemoryMarshal.Cast<byte, ulong>(memory.Frame(l3));
        Span<ulong> l2Entries = default;
        for (ulong address = 0; address < bytes; address += LargePageSize)
        {
            int l2Index = Pte.Index(address, 2);
            if (l2Index == 0)
            {
                ulong l2 = memory.Allocate(DomainIds.Xen);
                l3Entries[Pte.Index(address, 3)] = Pte.Make(l2, TableFlags);
                l2Entries = MemoryMarshal.Cast<byte, ulong>(memory.Frame(l2));
            }
            l2Entries[l2Index] = address | DirectmapFlags;
        }
        return l3;
    }
}
