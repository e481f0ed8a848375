using System.Buffers.Binary;

namespace Xenolith.Domain0.Builder;

/// <summary>
/// A parsed and validated Xen PV kernel: an x86-64 ELF image with Xen ELF notes, and the guest
/// virtual layout derived from them as Xen's libelf (elf_xen_parse, elf_xen_addr_calc_check) derives it.
/// </summary>
/// <remarks>
/// The image is untrusted. Every offset and size is checked against the file before use, and
/// every problem is reported as a <see cref="KernelImageException"/> with a one-line message.
/// The legacy "__xen_guest" section (pre-ELF-note kernels) is not supported.
/// </remarks>
public sealed class XenKernelImage
{
    /// <summary>Size of an x86 page; the hypercall page must be one whole, aligned page.</summary>
    public const ulong PageSize = 4096;

    private const int ElfHeaderSize = 64;
    private const int ProgramHeaderSize = 56;
    private const int SectionHeaderSize = 64;
    private const int NoteHeaderSize = 12;

    private const byte ElfClass64 = 2;
    private const byte ElfDataLittleEndian = 1;
    private const uint ElfCurrentVersion = 1;
    private const ushort ElfTypeExec = 2;
    private const ushort ElfTypeDyn = 3;
    private const ushort ElfMachineX8664 = 62;
    private const ushort ExtendedNumbering = 0xffff; // PN_XNUM
    private const uint ProgramTypeLoad = 1;
    private const uint ProgramTypeNote = 4;
    private const uint SectionTypeNote = 7;
    private const uint FlagExecute = 1;
    private const uint FlagWrite = 2;
    private const uint FlagRead = 4;

    private static ReadOnlySpan<byte> ElfMagic => [0x7f, (byte)'E', (byte)'L', (byte)'F'];

    private static ReadOnlySpan<byte> XenNoteName => [(byte)'X', (byte)'e', (byte)'n', 0];

    private readonly ReadOnlyMemory<byte> _image;
    private readonly ElfLoadSegment[] _segments;

    private XenKernelImage(ReadOnlyMemory<byte> image, ElfLoadSegment[] segments, XenElfNotes notes, ulong elfEntry)
    {
        _image = image;
        _segments = segments;
        Notes = notes;
        ElfEntry = elfEntry;
    }

    /// <summary>Loadable segments (PT_LOAD with a non-zero memory size), sorted by physical address.</summary>
    public IReadOnlyList<ElfLoadSegment> Segments => _segments;

    /// <summary>The decoded Xen ELF notes.</summary>
    public XenElfNotes Notes { get; }

    /// <summary>e_entry from the ELF header.</summary>
    public ulong ElfEntry { get; }

    /// <summary>VIRT_BASE, or 0 when the image does not set it (Xen's default).</summary>
    public ulong VirtBase { get; private set; }

    /// <summary>PADDR_OFFSET, or Xen's default: 0 for an image with ELF notes.</summary>
    public ulong ElfPaddrOffset { get; private set; }

    /// <summary>VirtBase - ElfPaddrOffset, modulo 2^64: added to an ELF physical address to get the guest virtual address.</summary>
    public ulong VirtOffset { get; private set; }

    /// <summary>Guest virtual address of the start of the kernel (lowest segment physical address + VirtOffset).</summary>
    public ulong VirtKernelStart { get; private set; }

    /// <summary>Guest virtual address just past the end of the kernel (highest segment end + VirtOffset).</summary>
    public ulong VirtKernelEnd { get; private set; }

    /// <summary>Virtual entry point: the ENTRY note, else e_entry.</summary>
    public ulong VirtEntry { get; private set; }

    /// <summary>Virtual address of the hypercall page, when the image asks for one.</summary>
    public ulong? VirtHypercallPage { get; private set; }

    /// <summary>
    /// Parses and validates a kernel image. The memory is kept (not copied): it must stay
    /// unchanged while the returned object is in use.
    /// </summary>
    /// <exception cref="KernelImageException">The image is malformed or not a loadable Xen PV kernel.</exception>
    public static XenKernelImage Parse(ReadOnlyMemory<byte> image)
    {
        ReadOnlySpan<byte> file = image.Span;
        ulong fileSize = (ulong)file.Length;

        if (file.Length >= ElfMagic.Length && !file[..ElfMagic.Length].SequenceEqual(ElfMagic))
        {
            throw new KernelImageException("kernel image: not an ELF file (bad magic number)");
        }

        if (file.Length < ElfHeaderSize)
        {
            throw new KernelImageException(
                $"kernel image: truncated ELF header ({file.Length} bytes; an ELF64 header is {ElfHeaderSize})");
        }

        if (file[4] != ElfClass64)
        {
            throw new KernelImageException(
                $"kernel image: ELF class {file[4]} is not supported; a PV kernel must be a 64-bit (ELFCLASS64) image");
        }

        if (file[5] != ElfDataLittleEndian)
        {
            throw new KernelImageException(
                $"kernel image: ELF data encoding {file[5]} is not supported; the image must be little-endian");
        }

        uint version = ReadU32(file, 20);
        if (file[6] != ElfCurrentVersion || version != ElfCurrentVersion)
        {
            throw new KernelImageException(
                $"kernel image: unsupported ELF version {(file[6] != ElfCurrentVersion ? file[6] : version)} (expected 1)");
        }

        ushort type = ReadU16(file, 16);
        if (type is not (ElfTypeExec or ElfTypeDyn))
        {
            throw new KernelImageException(
                $"kernel image: ELF type {type} is not an executable (ET_EXEC or ET_DYN)");
        }

        ushort machine = ReadU16(file, 18);
        if (machine != ElfMachineX8664)
        {
            throw new KernelImageException(
                $"kernel image: ELF machine {machine} is not x86-64 (EM_X86_64 = {ElfMachineX8664})");
        }

        ulong entry = ReadU64(file, 24);
        ulong programHeaderOffset = ReadU64(file, 32);
        ulong sectionHeaderOffset = ReadU64(file, 40);
        ushort programHeaderEntrySize = ReadU16(file, 54);
        ushort programHeaderCount = ReadU16(file, 56);
        ushort sectionHeaderEntrySize = ReadU16(file, 58);
        ushort sectionHeaderCount = ReadU16(file, 60);

        if (programHeaderCount == 0)
        {
            throw new KernelImageException("kernel image: ELF file has no program headers");
        }

        if (programHeaderCount == ExtendedNumbering)
        {
            throw new KernelImageException(
                "kernel image: extended program header numbering (e_phnum = PN_XNUM) is not supported");
        }

        if (programHeaderEntrySize != ProgramHeaderSize)
        {
            throw new KernelImageException(
                $"kernel image: program header entry size is {programHeaderEntrySize}; ELF64 requires {ProgramHeaderSize}");
        }

        CheckTable("program header table", programHeaderOffset, programHeaderCount, ProgramHeaderSize, fileSize);

        if (sectionHeaderCount != 0)
        {
            if (sectionHeaderEntrySize != SectionHeaderSize)
            {
                throw new KernelImageException(
                    $"kernel image: section header entry size is {sectionHeaderEntrySize}; ELF64 requires {SectionHeaderSize}");
            }

            CheckTable("section header table", sectionHeaderOffset, sectionHeaderCount, SectionHeaderSize, fileSize);
        }

        var segments = new List<ElfLoadSegment>();
        var notes = new XenElfNotes();
        int totalNotes = 0;
        int xenNotes = 0;

        for (int i = 0; i < programHeaderCount; i++)
        {
            ReadOnlySpan<byte> header = file.Slice(checked((int)programHeaderOffset + (i * ProgramHeaderSize)), ProgramHeaderSize);
            uint segmentType = ReadU32(header, 0);
            uint flags = ReadU32(header, 4);
            ulong offset = ReadU64(header, 8);
            ulong virtualAddress = ReadU64(header, 16);
            ulong physicalAddress = ReadU64(header, 24);
            ulong fileBytes = ReadU64(header, 32);
            ulong memoryBytes = ReadU64(header, 40);

            if (segmentType == ProgramTypeLoad)
            {
                if (!FitsIn(offset, fileBytes, fileSize))
                {
                    throw new KernelImageException(
                        $"kernel image: loadable segment {i} (file offset 0x{offset:x}, size 0x{fileBytes:x}) runs past the end of the file (0x{fileSize:x} bytes)");
                }

                if (memoryBytes < fileBytes)
                {
                    throw new KernelImageException(
                        $"kernel image: loadable segment {i} has a file size (0x{fileBytes:x}) larger than its memory size (0x{memoryBytes:x})");
                }

                if (!FitsIn(physicalAddress, memoryBytes, ulong.MaxValue) || !FitsIn(virtualAddress, memoryBytes, ulong.MaxValue))
                {
                    throw new KernelImageException(
                        $"kernel image: loadable segment {i} (address 0x{physicalAddress:x}, memory size 0x{memoryBytes:x}) wraps around the end of the address space");
                }

                // Like libelf's elf_phdr_is_loadable, a PT_LOAD with no R/W/X permission is not loaded.
                if ((flags & (FlagRead | FlagWrite | FlagExecute)) != 0 && memoryBytes != 0)
                {
                    segments.Add(new ElfLoadSegment(
                        physicalAddress,
                        virtualAddress,
                        offset,
                        fileBytes,
                        memoryBytes,
                        Writable: (flags & FlagWrite) != 0,
                        Executable: (flags & FlagExecute) != 0));
                }
            }
            else if (segmentType == ProgramTypeNote && offset != 0)
            {
                // libelf skips note segments at offset 0: some binutils versions emit them broken.
                if (!FitsIn(offset, fileBytes, fileSize))
                {
                    throw new KernelImageException(
                        $"kernel image: note segment {i} (file offset 0x{offset:x}, size 0x{fileBytes:x}) runs past the end of the file (0x{fileSize:x} bytes)");
                }

                xenNotes += ParseNotes(image, offset, fileBytes, "note segment", notes, ref totalNotes);
            }
        }

        // As libelf: section notes are a fallback for images whose note segments carry no Xen notes.
        if (xenNotes == 0)
        {
            for (int i = 1; i < sectionHeaderCount; i++)
            {
                ReadOnlySpan<byte> header = file.Slice(checked((int)sectionHeaderOffset + (i * SectionHeaderSize)), SectionHeaderSize);
                if (ReadU32(header, 4) != SectionTypeNote)
                {
                    continue;
                }

                ulong offset = ReadU64(header, 24);
                ulong size = ReadU64(header, 32);
                if (!FitsIn(offset, size, fileSize))
                {
                    throw new KernelImageException(
                        $"kernel image: note section {i} (file offset 0x{offset:x}, size 0x{size:x}) runs past the end of the file (0x{fileSize:x} bytes)");
                }

                ParseNotes(image, offset, size, "note section", notes, ref totalNotes);
            }
        }

        if (segments.Count == 0)
        {
            throw new KernelImageException("kernel image: ELF file has no loadable (PT_LOAD) segments");
        }

        ElfLoadSegment[] sorted = [.. segments.OrderBy(s => s.PhysicalAddress)];
        for (int i = 1; i < sorted.Length; i++)
        {
            ElfLoadSegment previous = sorted[i - 1];
            ElfLoadSegment current = sorted[i];
            ulong previousEnd = previous.PhysicalAddress + previous.MemorySize; // no overflow: checked above
            if (previousEnd > current.PhysicalAddress)
            {
                throw new KernelImageException(
                    $"kernel image: loadable segments overlap (physical 0x{previous.PhysicalAddress:x}-0x{previousEnd:x} and 0x{current.PhysicalAddress:x}-0x{current.PhysicalAddress + current.MemorySize:x})");
            }
        }

        var kernel = new XenKernelImage(image, sorted, notes, entry);
        kernel.CheckNotes();
        kernel.CalculateAddresses();
        return kernel;
    }

    /// <summary>The bytes of <paramref name="segment"/> that come from the file (FileSize bytes).</summary>
    /// <exception cref="ArgumentException"><paramref name="segment"/> is not one of <see cref="Segments"/>.</exception>
    public ReadOnlySpan<byte> FileBytes(ElfLoadSegment segment)
    {
        if (Array.IndexOf(_segments, segment) < 0)
        {
            throw new ArgumentException("The segment is not one of this image's segments.", nameof(segment));
        }

        // Parse checked offset + size against the image length, which fits in an int.
        return _image.Span.Slice((int)segment.FileOffset, (int)segment.FileSize);
    }

    /// <summary>
    /// Checks that every feature the kernel requires ('!' in its FEATURES note) is in
    /// <paramref name="supportedMask"/> (bit n = XENFEAT n).
    /// </summary>
    /// <exception cref="KernelImageException">Names each required feature that is missing.</exception>
    public void RequireOnlySupportedFeatures(uint supportedMask)
    {
        uint missing = Notes.RequiredFeatures & ~supportedMask;
        if (missing != 0)
        {
            throw new KernelImageException(
                $"kernel image: the kernel requires Xen features this hypervisor does not provide: {string.Join(", ", XenFeatures.NamesOf(missing))}");
        }
    }

    // elf_xen_note_check: is this an image Xen agrees to load at all?
    private void CheckNotes()
    {
        if (Notes.IsEmpty)
        {
            throw new KernelImageException(
                "kernel image: no Xen ELF notes found; this is not a Xen PV kernel (the legacy __xen_guest section is not supported)");
        }

        // Prefix comparisons, as libelf's strncmp with the length of the expected word.
        bool genericLoader = Notes.Loader?.StartsWith("generic", StringComparison.Ordinal) == true;
        bool linux = Notes.GuestOs?.StartsWith("linux", StringComparison.Ordinal) == true;
        if (!genericLoader && !linux)
        {
            throw new KernelImageException(
                $"kernel image: only images for the generic loader or Linux can be loaded (LOADER note is {Quote(Notes.Loader)}, GUEST_OS note is {Quote(Notes.GuestOs)})");
        }

        if (Notes.XenVersion?.StartsWith("xen-3.0", StringComparison.Ordinal) != true)
        {
            throw new KernelImageException(
                $"kernel image: XEN_VERSION note is {Quote(Notes.XenVersion)}; only images built for the Xen 3.0 interface ('xen-3.0') can be loaded");
        }
    }

    // elf_xen_addr_calc_check, plus the hypercall page checks Xen's PV domain builders make.
    private void CalculateAddresses()
    {
        if (Notes.PaddrOffset is not null && Notes.VirtBase is null)
        {
            throw new KernelImageException("kernel image: PADDR_OFFSET note is set but VIRT_BASE is not");
        }

        VirtBase = Notes.VirtBase ?? 0;

        // Images with ELF notes default to 0; only legacy images default to VIRT_BASE.
        ElfPaddrOffset = Notes.PaddrOffset ?? (Notes.IsEmpty ? VirtBase : 0);

        // Xen computes the offset and the shifted addresses modulo 2^64: a kernel linked at low
        // physical addresses with a high VIRT_BASE relies on it. An inverted result is rejected below.
        VirtOffset = unchecked(VirtBase - ElfPaddrOffset);
        ulong physicalStart = _segments[0].PhysicalAddress;
        ulong physicalEnd = _segments.Max(s => s.PhysicalAddress + s.MemorySize);
        VirtKernelStart = unchecked(physicalStart + VirtOffset);
        VirtKernelEnd = unchecked(physicalEnd + VirtOffset);
        VirtEntry = Notes.Entry ?? ElfEntry;
        VirtHypercallPage = Notes.HypercallPage;

        if (VirtKernelStart > VirtKernelEnd)
        {
            throw new KernelImageException(
                $"kernel image: kernel virtual range is inverted (start 0x{VirtKernelStart:x} > end 0x{VirtKernelEnd:x}); check the VIRT_BASE and PADDR_OFFSET notes");
        }

        if (VirtBase > VirtKernelStart)
        {
            throw new KernelImageException(
                $"kernel image: VIRT_BASE 0x{VirtBase:x} lies above the start of the kernel (0x{VirtKernelStart:x})");
        }

        if (VirtEntry < VirtKernelStart || VirtEntry >= VirtKernelEnd)
        {
            throw new KernelImageException(
                $"kernel image: entry point 0x{VirtEntry:x} lies outside the kernel (0x{VirtKernelStart:x}-0x{VirtKernelEnd:x})");
        }

        if (Notes.InitP2m is ulong p2m && p2m >= VirtKernelStart && p2m < VirtKernelEnd)
        {
            throw new KernelImageException(
                $"kernel image: INIT_P2M address 0x{p2m:x} lies inside the kernel (0x{VirtKernelStart:x}-0x{VirtKernelEnd:x})");
        }

        if (VirtHypercallPage is ulong page)
        {
            if (page < VirtKernelStart || !FitsIn(page, PageSize, VirtKernelEnd))
            {
                throw new KernelImageException(
                    $"kernel image: hypercall page 0x{page:x} lies outside the kernel (0x{VirtKernelStart:x}-0x{VirtKernelEnd:x})");
            }

            if (page % PageSize != 0)
            {
                throw new KernelImageException(
                    $"kernel image: hypercall page 0x{page:x} is not aligned to a 4 KiB page");
            }
        }
    }

    /// <summary>Walks the notes in [start, start + size) and records the Xen ones; returns how many Xen notes it found.</summary>
    private static int ParseNotes(ReadOnlyMemory<byte> image, ulong start, ulong size, string where, XenElfNotes notes, ref int totalNotes)
    {
        ReadOnlySpan<byte> file = image.Span;
        ulong end = start + size; // caller checked start + size <= file length
        ulong position = start;
        int found = 0;

        while (position < end)
        {
            if (++totalNotes > XenElfNotes.MaxNoteCount)
            {
                throw new KernelImageException($"kernel image: more than {XenElfNotes.MaxNoteCount} ELF notes");
            }

            if (end - position < NoteHeaderSize)
            {
                throw new KernelImageException(
                    $"kernel image: truncated ELF note header at file offset 0x{position:x} in {where} 0x{start:x}-0x{end:x}");
            }

            ReadOnlySpan<byte> header = file.Slice((int)position, NoteHeaderSize);
            uint nameSize = ReadU32(header, 0);
            uint descriptorSize = ReadU32(header, 4);
            uint noteType = ReadU32(header, 8);

            // All of these stay far below 2^64: position < 2^31 and the sizes are 32-bit.
            ulong nameStart = position + NoteHeaderSize;
            ulong descriptorStart = nameStart + AlignUp4(nameSize);
            ulong descriptorEnd = descriptorStart + descriptorSize;
            if (nameStart + nameSize > end || (descriptorSize != 0 && descriptorEnd > end))
            {
                throw new KernelImageException(
                    $"kernel image: ELF note at file offset 0x{position:x} (name size {nameSize}, descriptor size {descriptorSize}) runs past the end of its {where} (0x{end:x})");
            }

            if (nameSize == XenNoteName.Length && file.Slice((int)nameStart, XenNoteName.Length).SequenceEqual(XenNoteName))
            {
                notes.Add(new XenElfNote(
                    (XenElfNoteType)noteType,
                    descriptorSize == 0 ? ReadOnlyMemory<byte>.Empty : image.Slice((int)descriptorStart, (int)descriptorSize),
                    position));
                found++;
            }

            position = descriptorSize == 0 ? descriptorStart : descriptorStart + AlignUp4(descriptorSize);
        }

        return found;
    }

    private static void CheckTable(string what, ulong offset, ushort count, int entrySize, ulong fileSize)
    {
        ulong length = (ulong)count * (ulong)entrySize;
        if (!FitsIn(offset, length, fileSize))
        {
            throw new KernelImageException(
                $"kernel image: {what} (file offset 0x{offset:x}, {count} entries of {entrySize} bytes) runs past the end of the file (0x{fileSize:x} bytes)");
        }
    }

    /// <summary>Whether [start, start + length) lies within [0, limit), without overflowing.</summary>
    private static bool FitsIn(ulong start, ulong length, ulong limit) =>
        start <= limit && length <= limit - start;

    private static ulong AlignUp4(uint value) => ((ulong)value + 3) & ~3UL;

    private static string Quote(string? value) =>
        value is null ? "missing" : $"'{XenElfNotes.Printable(value)}'";

    private static ushort ReadU16(ReadOnlySpan<byte> data, int offset) =>
        BinaryPrimitives.ReadUInt16LittleEndian(data.Slice(offset, sizeof(ushort)));

    private static uint ReadU32(ReadOnlySpan<byte> data, int offset) =>
        BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(offset, sizeof(uint)));

    private static ulong ReadU64(ReadOnlySpan<byte> data, int offset) =>
        BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(offset, sizeof(ulong)));
}
