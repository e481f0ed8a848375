namespace Xenolith.Domain0.Builder;

/// <summary>
/// The initial virtual address space of a PV guest, in the order Xen's builder lays it out
/// (xen.h, "start of day memory layout"): kernel, initrd, P2M list, start_info, xenstore page,
/// console page, bootstrap page tables, boot stack; packed, each 4 KiB aligned, and mapped 1:1
/// onto the first pseudo-physical frames, with at least 512 KiB of mapped padding after it all,
/// the mapping ending on a 4 MiB boundary.
/// </summary>
public sealed record PvLayout
{
    public const ulong PageSize = 4096;
    private const ulong Padding = 512 * 1024;
    private const ulong MappingAlign = 4 * 1024 * 1024;

    public required ulong VirtBase { get; init; }
    public required ulong KernelStart { get; init; }
    public required ulong KernelEnd { get; init; }
    public required ulong RamdiskStart { get; init; }
    public required ulong RamdiskLength { get; init; }
    public required ulong P2mStart { get; init; }
    public required ulong P2mPages { get; init; }
    public required ulong StartInfo { get; init; }
    public required ulong XenstorePage { get; init; }
    public required ulong ConsolePage { get; init; }
    public required ulong PageTablesStart { get; init; }
    public required PageTableCounts PageTables { get; init; }
    public required ulong BootStack { get; init; }
    /// <summary>First address past the last bootstrap element.</summary>
    public required ulong End { get; init; }
    /// <summary>First address past the bootstrap mapping.</summary>
    public required ulong MappingEnd { get; init; }

    public ulong PfnOf(ulong va) => (va - VirtBase) / PageSize;

    /// <summary>Pages the bootstrap elements occupy, counted from pfn 0.</summary>
    public ulong RequiredPages => PfnOf(End);

    public static PvLayout Compute(XenKernelImage image, ulong ramdiskLength, ulong nrPages)
    {
        ulong virtBase = image.VirtBase;
        if (image.VirtKernelStart < virtBase)
            throw new KernelImageException($"kernel image: kernel start 0x{image.VirtKernelStart:x} lies below VIRT_BASE 0x{virtBase:x}");
        if ((image.VirtKernelStart & (PageSize - 1)) != 0)
            throw new KernelImageException($"kernel image: kernel start 0x{image.VirtKernelStart:x} is not page aligned");
        checked
        {
            ulong at = RoundUp(image.VirtKernelEnd, PageSize);
            ulong kernelEnd = at;
            ulong ramdiskStart = at;
            at += RoundUp(ramdiskLength, PageSize);
            ulong p2mStart = at;
            ulong p2mPages = RoundUp(nrPages * 8, PageSize) / PageSize;
            at += p2mPages * PageSize;
            ulong startInfo = at; at += PageSize;
            ulong xenstore = at; at += PageSize;
            ulong console = at; at += PageSize;
            ulong pageTablesStart = at;

            // Iterate to a fixed point: the tables must map themselves, the stack and the padding.
            ulong extraPages = 1 + Padding / PageSize;
            ulong pages = extraPages;
            PageTableCounts counts;
            ulong mappingEnd;
            while (true)
            {
                mappingEnd = RoundUp(pageTablesStart + pages * PageSize, MappingAlign);
                counts = PageTableCounts.For(virtBase, mappingEnd);
                pages = counts.Total + extraPages;
                if (pageTablesStart + pages * PageSize <= mappingEnd)
                    break;
            }
            at = pageTablesStart + counts.Total * PageSize;
            ulong bootStack = at; at += PageSize;

            var layout = new PvLayout
            {
                VirtBase = virtBase, KernelStart = image.VirtKernelStart, KernelEnd = kernelEnd,
                RamdiskStart = ramdiskStart, RamdiskLength = ramdiskLength, P2mStart = p2mStart, P2mPages = p2mPages,
                StartInfo = startInfo, XenstorePage = xenstore, ConsolePage = console,
                PageTablesStart = pageTablesStart, PageTables = counts, BootStack = bootStack, End = at, MappingEnd = mappingEnd,
            };
            if (layout.VirtBase < Abi.X86Layout.HypervisorVirtEnd && layout.MappingEnd > Abi.X86Layout.HypervisorVirtStart)
                throw new KernelImageException(
                    $"kernel image: the boot mapping 0x{layout.VirtBase:x}-0x{layout.MappingEnd:x} overlaps the hypervisor's range 0x{Abi.X86Layout.HypervisorVirtStart:x}-0x{Abi.X86Layout.HypervisorVirtEnd:x}");
            if (layout.RequiredPages > nrPages)
                throw new KernelImageException(
                    $"not enough memory: the kernel and its boot data need {layout.RequiredPages * PageSize / 1024} KiB, the domain has {nrPages * PageSize / 1024} KiB");
            return layout;
        }
    }

    private static ulong RoundUp(ulong value, ulong align) => checked(value + align - 1) & ~(align - 1);
}

/// <summary>How many tables of each level map [start, end) with 4 KiB pages.</summary>
public readonly record struct PageTableCounts(ulong L4, ulong L3, ulong L2, ulong L1)
{
    public ulong Total => L4 + L3 + L2 + L1;

    public static PageTableCounts For(ulong start, ulong end)
    {
        ulong last = end - 1;
        static ulong Span(ulong s, ulong e, int shift) => (e >> shift) - (s >> shift) + 1;
        return new PageTableCounts(1, Span(start, last, 39), Span(start, last, 30), Span(start, last, 21));
    }
}
