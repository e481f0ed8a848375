using System.Runtime.InteropServices;
using System.Text;
using Xenolith.Abi;
using Xenolith.Hypervisor;
using Xenolith.Hypervisor.Memory;
using Xenolith.Hypervisor.Pv;

namespace Xenolith.Domain0.Builder;

/// <summary>The result of loading: the layout, the machine address of the bootstrap L4, and vCPU 0's start.</summary>
public sealed record PvBootImage(PvLayout Layout, ulong L4Mfn, VcpuStartState Start)
{
    /// <summary>start_info.store_mfn and store_evtchn: where Domain0's xenstored finds the guest's ring.</summary>
    public ulong StoreMfn { get; init; }
    public uint StorePort { get; init; }

    /// <summary>start_info.console.domU.mfn and evtchn: the console ring Domain0's backend serves.</summary>
    public ulong ConsoleMfn { get; init; }
    public uint ConsolePort { get; init; }
}

/// <summary>
/// Writes a PV kernel and its boot data into a domain's frames: segments, initrd, P2M list,
/// start_info, bootstrap page tables and hypercall page. It touches only the frames in the
/// domain's P2M, through the machine-memory bounds checks.
/// </summary>
public static class PvImageLoader
{
    private const ulong LeafFlags = Pte.Present | Pte.Writable | Pte.User | Pte.Accessed | Pte.Dirty;
    private const ulong TableFlags = LeafFlags;

    public static PvBootImage Load(MachineMemory memory, PvLoadContext context, XenKernelImage image,
        ReadOnlySpan<byte> ramdisk, string commandLine)
    {
        byte[] cmdline = Encoding.UTF8.GetBytes(commandLine);
        if (cmdline.Length >= StartInfo.MaxGuestCmdline)
            throw new KernelImageException($"command line is {cmdline.Length} bytes; the limit is {StartInfo.MaxGuestCmdline - 1}");
        if (cmdline.Contains((byte)0))
            throw new KernelImageException("command line contains a NUL byte");
        if (image.VirtHypercallPage is null)
            throw new KernelImageException("kernel image: no XEN_ELFNOTE_HYPERCALL_PAGE (Xenolith fills the hypercall page; images without one are not supported yet)");

        ulong nrPages = (ulong)context.P2m.Count;
        PvLayout layout = PvLayout.Compute(image, (ulong)ramdisk.Length, nrPages);
        var writer = new PseudoPhysWriter(memory, context.P2m, layout.VirtBase);

        foreach (ElfLoadSegment segment in image.Segments)
            writer.Write(checked(segment.PhysicalAddress + image.VirtOffset), image.FileBytes(segment));
        writer.Write(layout.RamdiskStart, ramdisk);
        writer.Write(layout.P2mStart, MemoryMarshal.AsBytes(context.P2m.ToArray().AsSpan()));
        HypercallPage.Write(writer.Page(image.VirtHypercallPage.Value));

        ulong l4Mfn = WritePageTables(memory, context, layout, writer);

        var info = new StartInfo
        {
            NrPages = nrPages,
            SharedInfo = context.SharedInfoMfn << MachineMemory.PageShift,
            Flags = StartInfoFlags.None,
            StoreMfn = context.P2m[(int)layout.PfnOf(layout.XenstorePage)],
            StoreEvtchn = context.StoreEvtchn,
            ConsoleMfn = context.P2m[(int)layout.PfnOf(layout.ConsolePage)],
            ConsoleEvtchn = context.ConsoleEvtchn,
            PtBase = layout.PageTablesStart,
            NrPtFrames = layout.PageTables.Total,
            MfnList = layout.P2mStart,
            ModStart = ramdisk.IsEmpty ? 0 : layout.RamdiskStart,
            ModLen = (ulong)ramdisk.Length,
            FirstP2mPfn = layout.PfnOf(layout.P2mStart),
            NrP2mFrames = layout.P2mPages,
        };
        Encoding.ASCII.GetBytes(StartInfo.MagicX86_64, info.Magic);
        cmdline.CopyTo(info.CmdLine);
        writer.Write(layout.StartInfo, MemoryMarshal.AsBytes(new ReadOnlySpan<StartInfo>(in info)));

        var start = new VcpuStartState(
            Rip: image.VirtEntry,
            Rsp: layout.BootStack + PvLayout.PageSize,
            Rsi: layout.StartInfo,
            Cr3: l4Mfn << MachineMemory.PageShift);
        return new PvBootImage(layout, l4Mfn, start)
        {
            StoreMfn = info.StoreMfn,
            StorePort = info.StoreEvtchn,
            ConsoleMfn = info.ConsoleMfn,
            ConsolePort = info.ConsoleEvtchn,
        };
    }

    /// <summary>
    /// Builds L4, L3s, L2s, L1s (in that order from pt_base) mapping [VirtBase, MappingEnd) onto
    /// pfns 0.., with the page-table frames themselves read-only. The hypervisor's slots are filled
    /// when the hypervisor validates the L4.
    /// </summary>
    private static ulong WritePageTables(MachineMemory memory, PvLoadContext context, PvLayout layout, PseudoPhysWriter writer)
    {
        PageTableCounts counts = layout.PageTables;
        ulong nextTable = layout.PfnOf(layout.PageTablesStart);
        ulong firstTablePfn = nextTable, lastTablePfn = nextTable + counts.Total - 1;
        ulong l4Mfn = context.P2m[(int)nextTable++];
        var tables = new Dictionary<(int Level, ulong Index), ulong>();

        // Allocate tables level by level so the L4 comes first, then all L3s, L2s, L1s.
        for (int level = 3; level >= 1; level--)
        {
            int shift = 12 + 9 * level;
            for (ulong index = layout.VirtBase >> shift; index <= (layout.MappingEnd - 1) >> shift; index++)
            {
                ulong mfn = context.P2m[(int)nextTable++];
                tables[(level, index)] = mfn;
            }
        }

        ulong mappedPages = Math.Min((layout.MappingEnd - layout.VirtBase) / PvLayout.PageSize, (ulong)context.P2m.Count);
        for (ulong pfn = 0; pfn < mappedPages; pfn++)
        {
            ulong va = layout.VirtBase + pfn * PvLayout.PageSize;
            ulong l3 = tables[(3, va >> 39)], l2 = tables[(2, va >> 30)], l1 = tables[(1, va >> 21)];
            SetEntry(memory, l4Mfn, Pte.Index(va, 4), Pte.Make(l3, TableFlags));
            SetEntry(memory, l3, Pte.Index(va, 3), Pte.Make(l2, TableFlags));
            SetEntry(memory, l2, Pte.Index(va, 2), Pte.Make(l1, TableFlags));
            ulong flags = pfn >= firstTablePfn && pfn <= lastTablePfn ? LeafFlags & ~Pte.Writable : LeafFlags;
            SetEntry(memory, l1, Pte.Index(va, 1), Pte.Make(context.P2m[(int)pfn], flags));
        }
        return l4Mfn;
    }

    private static void SetEntry(MachineMemory memory, ulong tableMfn, int index, ulong entry) =>
        memory.Block.Write((tableMfn << MachineMemory.PageShift) + (ulong)index * 8, entry);

    /// <summary>Writes through the 1:1 bootstrap correspondence of virtual address and pfn.</summary>
    private sealed class PseudoPhysWriter(MachineMemory memory, IReadOnlyList<ulong> p2m, ulong virtBase)
    {
        public void Write(ulong va, ReadOnlySpan<byte> data)
        {
            while (!data.IsEmpty)
            {
                int offset = (int)(va & (PvLayout.PageSize - 1));
                int chunk = Math.Min(data.Length, (int)PvLayout.PageSize - offset);
                data[..chunk].CopyTo(Page(va)[offset..]);
                data = data[chunk..];
                va += (ulong)chunk;
            }
        }

        public Span<byte> Page(ulong va)
        {
            if (va < virtBase)
                throw new KernelImageException($"kernel image: address 0x{va:x} lies below VIRT_BASE 0x{virtBase:x}");
            ulong pfn = (va - virtBase) / PvLayout.PageSize;
            if (pfn >= (ulong)p2m.Count)
                throw new KernelImageException($"not enough memory: address 0x{va:x} needs pfn 0x{pfn:x}, the domain has {p2m.Count} pages");
            return memory.Frame(p2m[(int)pfn]);
        }
    }
}
