using System.Buffers.Binary;
using System.Text;
using Xenolith.Domain0.Builder;

namespace Xenolith.Tests.Builder;

/// <summary>
/// Assembles small ELF64 x86-64 images in memory, with chosen PT_LOAD segments and ELF notes,
/// so tests can build both good kernels and precisely malformed ones.
/// </summary>
internal sealed class ElfImageWriter
{
    public const uint PfX = 1;
    public const uint PfW = 2;
    public const uint PfR = 4;

    // The layout the Linux-like preset uses, so tests can assert derived addresses.
    public const ulong LinuxVirtBase = 0xffffffff80000000;
    public const ulong LinuxKernelStart = 0xffffffff81000000;
    public const ulong LinuxKernelEnd = 0xffffffff81005000;
    public const ulong LinuxEntry = 0xffffffff81001000;
    public const ulong LinuxHypercallPage = 0xffffffff81002000;

    public ushort Machine { get; set; } = 62;

    public ushort ElfType { get; set; } = 2;

    public ulong Entry { get; set; }

    public List<LoadSpec> Loads { get; } = [];

    public List<NoteSpec> Notes { get; } = [];

    /// <summary>Put the notes in an SHT_NOTE section instead of a PT_NOTE segment.</summary>
    public bool NotesInSectionOnly { get; set; }

    /// <summary>A Linux-like x86-64 PV kernel: text + data segments and the usual Xen notes.</summary>
    public static ElfImageWriter LinuxLike()
    {
        var writer = new ElfImageWriter { Entry = 0xffffffff81000000 };
        writer.Loads.Add(new LoadSpec(0x1000000, 0xffffffff81000000, Filled(0x3000, 0xcc), 0x3000, PfR | PfX));
        writer.Loads.Add(new LoadSpec(0x1003000, 0xffffffff81003000, Filled(0x1000, 0x5a), 0x2000, PfR | PfW));
        writer.Notes.Add(NoteSpec.Text(XenElfNoteType.GuestOs, "linux"));
        writer.Notes.Add(NoteSpec.Text(XenElfNoteType.GuestVersion, "2.6"));
        writer.Notes.Add(NoteSpec.Text(XenElfNoteType.XenVersion, "xen-3.0"));
        writer.Notes.Add(NoteSpec.U64(XenElfNoteType.VirtBase, LinuxVirtBase));
        writer.Notes.Add(NoteSpec.U64(XenElfNoteType.PaddrOffset, 0));
        writer.Notes.Add(NoteSpec.U64(XenElfNoteType.Entry, LinuxEntry));
        writer.Notes.Add(NoteSpec.U64(XenElfNoteType.HypercallPage, LinuxHypercallPage));
        writer.Notes.Add(NoteSpec.Text(XenElfNoteType.Features, "!writable_page_tables|pae_pgdir_above_4gb"));
        writer.Notes.Add(NoteSpec.U32(XenElfNoteType.SupportedFeatures, 1u << Xenolith.Abi.XenFeature.Dom0));
        writer.Notes.Add(NoteSpec.Text(XenElfNoteType.Loader, "generic"));
        writer.Notes.Add(NoteSpec.U32(XenElfNoteType.SuspendCancel, 1));
        return writer;
    }

    public ElfImageWriter WithoutNote(XenElfNoteType type)
    {
        Notes.RemoveAll(n => n.Name == "Xen" && n.Type == (uint)type);
        return this;
    }

    public ElfImageWriter WithNote(NoteSpec note)
    {
        WithoutNote((XenElfNoteType)note.Type);
        Notes.Add(note);
        return this;
    }

    public static byte[] Filled(int length, byte value)
    {
        byte[] bytes = new byte[length];
        bytes.AsSpan().Fill(value);
        return bytes;
    }

    /// <summary>File offset of the first program header (right after the ELF header).</summary>
    public const int ProgramHeaderOffset = 64;

    public byte[] Build()
    {
        byte[] noteBlob = BuildNotes();
        bool noteSegment = Notes.Count > 0 && !NotesInSectionOnly;
        int programHeaderCount = Loads.Count + (noteSegment ? 1 : 0);
        int noteOffset = Align(ProgramHeaderOffset + (programHeaderCount * 56), 8);
        int sectionCount = NotesInSectionOnly ? 2 : 0;
        int sectionOffset = Align(noteOffset + noteBlob.Length, 8);
        int dataOffset = Align(sectionOffset + (sectionCount * 64), 16);

        var loadOffsets = new List<int>();
        int cursor = dataOffset;
        foreach (LoadSpec load in Loads)
        {
            loadOffsets.Add(cursor);
            cursor = Align(cursor + load.Data.Length, 16);
        }

        byte[] image = new byte[cursor];
        Span<byte> span = image;

        // ELF header.
        span[0] = 0x7f;
        span[1] = (byte)'E';
        span[2] = (byte)'L';
        span[3] = (byte)'F';
        span[4] = 2; // ELFCLASS64
        span[5] = 1; // ELFDATA2LSB
        span[6] = 1; // EV_CURRENT
        Put16(span, 16, ElfType);
        Put16(span, 18, Machine);
        Put32(span, 20, 1);
        Put64(span, 24, Entry);
        Put64(span, 32, ProgramHeaderOffset);
        Put64(span, 40, sectionCount == 0 ? 0UL : (ulong)sectionOffset);
        Put16(span, 52, 64);
        Put16(span, 54, 56);
        Put16(span, 56, (ushort)programHeaderCount);
        Put16(span, 58, 64);
        Put16(span, 60, (ushort)sectionCount);

        int header = ProgramHeaderOffset;
        for (int i = 0; i < Loads.Count; i++)
        {
            LoadSpec load = Loads[i];
            load.Data.CopyTo(span[loadOffsets[i]..]);
            Put32(span, header, 1); // PT_LOAD
            Put32(span, header + 4, load.Flags);
            Put64(span, header + 8, load.FileOffset ?? (ulong)loadOffsets[i]);
            Put64(span, header + 16, load.VirtualAddress);
            Put64(span, header + 24, load.PhysicalAddress);
            Put64(span, header + 32, load.FileSize ?? (ulong)load.Data.Length);
            Put64(span, header + 40, load.MemorySize);
            Put64(span, header + 48, 0x1000);
            header += 56;
        }

        noteBlob.CopyTo(span[noteOffset..]);
        if (noteSegment)
        {
            Put32(span, header, 4); // PT_NOTE
            Put32(span, header + 4, PfR);
            Put64(span, header + 8, (ulong)noteOffset);
            Put64(span, header + 32, (ulong)noteBlob.Length);
            Put64(span, header + 40, (ulong)noteBlob.Length);
            Put64(span, header + 48, 4);
        }

        if (NotesInSectionOnly)
        {
            int section = sectionOffset + 64; // index 0 stays the null section
            Put32(span, section + 4, 7); // SHT_NOTE
            Put64(span, section + 24, (ulong)noteOffset);
            Put64(span, section + 32, (ulong)noteBlob.Length);
            Put64(span, section + 48, 4);
        }

        return image;
    }

    /// <summary>File offset of the note data in the image <see cref="Build"/> makes.</summary>
    public int NoteOffset()
    {
        bool noteSegment = Notes.Count > 0 && !NotesInSectionOnly;
        return Align(ProgramHeaderOffset + ((Loads.Count + (noteSegment ? 1 : 0)) * 56), 8);
    }

    private byte[] BuildNotes()
    {
        var blob = new List<byte>();
        foreach (NoteSpec note in Notes)
        {
            byte[] name = Encoding.ASCII.GetBytes(note.Name + "\0");
            byte[] head = new byte[12];
            BinaryPrimitives.WriteUInt32LittleEndian(head, note.NameSize ?? (uint)name.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(4), note.DescriptorSize ?? (uint)note.Descriptor.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(head.AsSpan(8), note.Type);
            blob.AddRange(head);
            blob.AddRange(name);
            Pad(blob);
            blob.AddRange(note.Descriptor);
            Pad(blob);
        }

        return [.. blob];
    }

    private static void Pad(List<byte> blob)
    {
        while (blob.Count % 4 != 0)
        {
            blob.Add(0);
        }
    }

    private static int Align(int value, int alignment) => (value + alignment - 1) / alignment * alignment;

    public static void Put16(Span<byte> span, int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], value);

    public static void Put32(Span<byte> span, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(span[offset..], value);

    public static void Put64(Span<byte> span, int offset, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(span[offset..], value);
}

/// <summary>A PT_LOAD to write; FileOffset/FileSize override the real ones to make broken headers.</summary>
internal sealed record LoadSpec(
    ulong PhysicalAddress,
    ulong VirtualAddress,
    byte[] Data,
    ulong MemorySize,
    uint Flags,
    ulong? FileOffset = null,
    ulong? FileSize = null);

/// <summary>An ELF note to write; NameSize/DescriptorSize override the real sizes to make broken notes.</summary>
internal sealed record NoteSpec(string Name, uint Type, byte[] Descriptor, uint? NameSize = null, uint? DescriptorSize = null)
{
    public static NoteSpec Text(XenElfNoteType type, string value) =>
        new("Xen", (uint)type, Encoding.ASCII.GetBytes(value + "\0"));

    public static NoteSpec Raw(XenElfNoteType type, byte[] descriptor) => new("Xen", (uint)type, descriptor);

    public static NoteSpec U32(XenElfNoteType type, uint value)
    {
        byte[] bytes = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return new("Xen", (uint)type, bytes);
    }

    public static NoteSpec U64(XenElfNoteType type, ulong value)
    {
        byte[] bytes = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return new("Xen", (uint)type, bytes);
    }
}
