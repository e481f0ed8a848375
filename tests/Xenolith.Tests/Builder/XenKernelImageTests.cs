using Xenolith.Domain0.Builder;
using Xunit;

namespace Xenolith.Tests.Builder;

public sealed class XenKernelImageTests
{
    [Fact]
    public void LinuxLikeImageParsesWithXenDerivedAddresses()
    {
        XenKernelImage kernel = XenKernelImage.Parse(ElfImageWriter.LinuxLike().Build());

        Assert.Equal(ElfImageWriter.LinuxVirtBase, kernel.VirtBase);
        Assert.Equal(0UL, kernel.ElfPaddrOffset);
        Assert.Equal(ElfImageWriter.LinuxVirtBase, kernel.VirtOffset);
        Assert.Equal(ElfImageWriter.LinuxKernelStart, kernel.VirtKernelStart);
        Assert.Equal(ElfImageWriter.LinuxKernelEnd, kernel.VirtKernelEnd);
        Assert.Equal(ElfImageWriter.LinuxEntry, kernel.VirtEntry);
        Assert.Equal(0xffffffff81000000UL, kernel.ElfEntry);
        Assert.Equal(ElfImageWriter.LinuxHypercallPage, kernel.VirtHypercallPage);
    }

    [Fact]
    public void SegmentsAreReportedWithFlagsAndFileBytes()
    {
        XenKernelImage kernel = XenKernelImage.Parse(ElfImageWriter.LinuxLike().Build());

        Assert.Equal(2, kernel.Segments.Count);
        ElfLoadSegment text = kernel.Segments[0];
        ElfLoadSegment data = kernel.Segments[1];
        Assert.Equal(0x1000000UL, text.PhysicalAddress);
        Assert.Equal(0xffffffff81000000UL, text.VirtualAddress);
        Assert.Equal(0x3000UL, text.FileSize);
        Assert.Equal(0x3000UL, text.MemorySize);
        Assert.True(text.Executable);
        Assert.False(text.Writable);
        Assert.Equal(0x1000UL, data.FileSize);
        Assert.Equal(0x2000UL, data.MemorySize);
        Assert.True(data.Writable);
        Assert.False(data.Executable);

        byte[] textBytes = kernel.FileBytes(text).ToArray();
        Assert.Equal(0x3000, textBytes.Length);
        Assert.All(textBytes, b => Assert.Equal(0xcc, b));
        Assert.All(kernel.FileBytes(data).ToArray(), b => Assert.Equal(0x5a, b));
    }

    [Fact]
    public void FileBytesRejectsForeignSegment()
    {
        XenKernelImage kernel = XenKernelImage.Parse(ElfImageWriter.LinuxLike().Build());
        var foreign = new ElfLoadSegment(0, 0, 0, 1, 1, false, false);

        Assert.Throws<ArgumentException>(() => kernel.FileBytes(foreign).Length);
    }

    [Fact]
    public void NotesAreDecoded()
    {
        XenElfNotes notes = XenKernelImage.Parse(ElfImageWriter.LinuxLike().Build()).Notes;

        Assert.Equal("linux", notes.GuestOs);
        Assert.Equal("2.6", notes.GuestVersion);
        Assert.Equal("xen-3.0", notes.XenVersion);
        Assert.Equal("generic", notes.Loader);
        Assert.Equal("!writable_page_tables|pae_pgdir_above_4gb", notes.Features);
        Assert.Equal(1UL, notes.SuspendCancel);
        Assert.Equal(ElfImageWriter.LinuxVirtBase, notes.VirtBase);
        Assert.Equal(0UL, notes.PaddrOffset);
        Assert.Null(notes.InitP2m);
        uint expectedSupported = (1u << Xenolith.Abi.XenFeature.WritablePageTables) | (1u << Xenolith.Abi.XenFeature.PaePgdirAbove4Gb) | (1u << Xenolith.Abi.XenFeature.Dom0);
        Assert.Equal(expectedSupported, notes.SupportedFeatures);
        Assert.Equal(1u << Xenolith.Abi.XenFeature.WritablePageTables, notes.RequiredFeatures);
        Assert.Equal(11, notes.All.Count);
        Assert.Contains(notes.All, n => n.Type == XenElfNoteType.SupportedFeatures && n.Descriptor.Length == 4);
    }

    [Fact]
    public void EntryDefaultsToElfEntryAndVirtBaseToZero()
    {
        var writer = new ElfImageWriter { Entry = 0x101000 };
        writer.Loads.Add(new LoadSpec(0x100000, 0x100000, ElfImageWriter.Filled(0x2000, 1), 0x2000, ElfImageWriter.PfR | ElfImageWriter.PfX));
        writer.Notes.Add(NoteSpec.Text(XenElfNoteType.XenVersion, "xen-3.0"));
        writer.Notes.Add(NoteSpec.Text(XenElfNoteType.Loader, "generic"));

        XenKernelImage kernel = XenKernelImage.Parse(writer.Build());

        Assert.Equal(0UL, kernel.VirtBase);
        Assert.Equal(0UL, kernel.ElfPaddrOffset);
        Assert.Equal(0UL, kernel.VirtOffset);
        Assert.Equal(0x100000UL, kernel.VirtKernelStart);
        Assert.Equal(0x102000UL, kernel.VirtKernelEnd);
        Assert.Equal(0x101000UL, kernel.VirtEntry);
        Assert.Null(kernel.VirtHypercallPage);
    }

    [Fact]
    public void FourByteNumericNotesAreAccepted()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike()
            .WithoutNote(XenElfNoteType.VirtBase)
            .WithoutNote(XenElfNoteType.PaddrOffset)
            .WithoutNote(XenElfNoteType.HypercallPage);
        writer.Loads.Clear();
        writer.Loads.Add(new LoadSpec(0x200000, 0x200000, ElfImageWriter.Filled(0x1000, 1), 0x1000, ElfImageWriter.PfR | ElfImageWriter.PfX));
        writer.WithNote(NoteSpec.U32(XenElfNoteType.Entry, 0x200010));

        XenKernelImage kernel = XenKernelImage.Parse(writer.Build());

        Assert.Equal(0x200010UL, kernel.VirtEntry);
    }

    [Fact]
    public void SegmentsAreSortedByPhysicalAddress()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Loads.Reverse();

        XenKernelImage kernel = XenKernelImage.Parse(writer.Build());

        Assert.Equal([0x1000000UL, 0x1003000UL], kernel.Segments.Select(s => s.PhysicalAddress));
    }

    [Fact]
    public void EmptyAndPermissionlessLoadSegmentsAreSkipped()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Loads.Add(new LoadSpec(0x2000000, 0xffffffff82000000, [], 0, ElfImageWriter.PfR));
        writer.Loads.Add(new LoadSpec(0x1000000, 0xffffffff81000000, ElfImageWriter.Filled(16, 0), 16, 0));

        XenKernelImage kernel = XenKernelImage.Parse(writer.Build());

        Assert.Equal(2, kernel.Segments.Count);
        Assert.Equal(ElfImageWriter.LinuxKernelEnd, kernel.VirtKernelEnd);
    }

    [Fact]
    public void NotesAreFoundInNoteSectionWhenThereIsNoNoteSegment()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.NotesInSectionOnly = true;

        XenKernelImage kernel = XenKernelImage.Parse(writer.Build());

        Assert.Equal("linux", kernel.Notes.GuestOs);
        Assert.Equal(ElfImageWriter.LinuxEntry, kernel.VirtEntry);
    }

    [Fact]
    public void DuplicateNoteLastOneWins()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Notes.Add(NoteSpec.U64(XenElfNoteType.Entry, ElfImageWriter.LinuxEntry + 0x10));

        XenKernelImage kernel = XenKernelImage.Parse(writer.Build());

        Assert.Equal(ElfImageWriter.LinuxEntry + 0x10, kernel.VirtEntry);
    }

    [Fact]
    public void NonXenNotesAndUnknownXenNoteTypesAreIgnored()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Notes.Insert(0, new NoteSpec("GNU", 3, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]));
        writer.Notes.Add(new NoteSpec("Xen", 0x1234, [1, 2, 3]));
        writer.Notes.Add(new NoteSpec("Xenon", (uint)XenElfNoteType.Entry, [0, 0, 0]));

        XenKernelImage kernel = XenKernelImage.Parse(writer.Build());

        Assert.Equal(ElfImageWriter.LinuxEntry, kernel.VirtEntry);
        Assert.Contains(kernel.Notes.All, n => (uint)n.Type == 0x1234);
    }

    [Fact]
    public void UnknownOptionalFeatureIsIgnoredAsXenDoes()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike()
            .WithNote(NoteSpec.Text(XenElfNoteType.Features, "writable_page_tables|frobnicate||dom0"));

        XenElfNotes notes = XenKernelImage.Parse(writer.Build()).Notes;

        Assert.Equal(["frobnicate"], notes.UnknownFeatures);
        Assert.Equal(0u, notes.RequiredFeatures);
        Assert.Equal((1u << Xenolith.Abi.XenFeature.WritablePageTables) | (1u << Xenolith.Abi.XenFeature.Dom0), notes.SupportedFeatures);
    }

    [Fact]
    public void RequireOnlySupportedFeaturesAcceptsSupportedSet()
    {
        XenKernelImage kernel = XenKernelImage.Parse(ElfImageWriter.LinuxLike().Build());

        kernel.RequireOnlySupportedFeatures(1u << Xenolith.Abi.XenFeature.WritablePageTables);
    }

    [Fact]
    public void RequireOnlySupportedFeaturesNamesEachMissingFeature()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike()
            .WithNote(NoteSpec.Text(XenElfNoteType.Features, "!writable_page_tables|!auto_translated_physmap|dom0"));
        XenKernelImage kernel = XenKernelImage.Parse(writer.Build());

        var error = Assert.Throws<KernelImageException>(() => kernel.RequireOnlySupportedFeatures(1u << Xenolith.Abi.XenFeature.Dom0));

        Assert.Contains("writable_page_tables, auto_translated_physmap", error.Message);
    }

    [Fact]
    public void HypercallPageMayBeTheLastPageOfTheKernel()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike()
            .WithNote(NoteSpec.U64(XenElfNoteType.HypercallPage, ElfImageWriter.LinuxKernelEnd - 0x1000));

        Assert.Equal(ElfImageWriter.LinuxKernelEnd - 0x1000, XenKernelImage.Parse(writer.Build()).VirtHypercallPage);
    }

    // ---- malformed images ------------------------------------------------------------------

    [Fact]
    public void TruncatedHeaderIsRejected() =>
        AssertRejected(ElfImageWriter.LinuxLike().Build()[..40], "truncated ELF header");

    [Fact]
    public void EmptyFileIsRejected() => AssertRejected([], "truncated ELF header");

    [Fact]
    public void BadMagicIsRejected() => AssertRejected(Patch(ElfImageWriter.LinuxLike().Build(), i => i[1] = (byte)'X'), "not an ELF file");

    [Fact]
    public void ThirtyTwoBitClassIsRejected() => AssertRejected(Patch(ElfImageWriter.LinuxLike().Build(), i => i[4] = 1), "ELF class 1");

    [Fact]
    public void BigEndianIsRejected() => AssertRejected(Patch(ElfImageWriter.LinuxLike().Build(), i => i[5] = 2), "little-endian");

    [Fact]
    public void WrongVersionIsRejected() => AssertRejected(Patch(ElfImageWriter.LinuxLike().Build(), i => i[20] = 2), "ELF version 2");

    [Fact]
    public void WrongMachineIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Machine = 3; // EM_386
        AssertRejected(writer.Build(), "ELF machine 3 is not x86-64");
    }

    [Fact]
    public void RelocatableObjectIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.ElfType = 1; // ET_REL
        AssertRejected(writer.Build(), "not an executable");
    }

    [Fact]
    public void DynamicExecutableIsAccepted()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.ElfType = 3; // ET_DYN
        Assert.Equal(ElfImageWriter.LinuxEntry, XenKernelImage.Parse(writer.Build()).VirtEntry);
    }

    [Fact]
    public void WrongProgramHeaderEntrySizeIsRejected() =>
        AssertRejected(Patch(ElfImageWriter.LinuxLike().Build(), i => ElfImageWriter.Put16(i, 54, 32)), "program header entry size is 32");

    [Fact]
    public void NoProgramHeadersIsRejected() =>
        AssertRejected(Patch(ElfImageWriter.LinuxLike().Build(), i => ElfImageWriter.Put16(i, 56, 0)), "no program headers");

    [Theory]
    [InlineData(0x100000UL)]
    [InlineData(ulong.MaxValue - 8)]
    public void ProgramHeaderTableOutOfBoundsIsRejected(ulong offset) =>
        AssertRejected(Patch(ElfImageWriter.LinuxLike().Build(), i => ElfImageWriter.Put64(i, 32, offset)), "program header table");

    [Fact]
    public void TooManyProgramHeadersIsRejected() =>
        AssertRejected(Patch(ElfImageWriter.LinuxLike().Build(), i => ElfImageWriter.Put16(i, 56, 0xfff0)), "program header table");

    [Fact]
    public void SectionHeaderTableOutOfBoundsIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.NotesInSectionOnly = true;
        AssertRejected(Patch(writer.Build(), i => ElfImageWriter.Put64(i, 40, 0x7fff_ffff_0000)), "section header table");
    }

    [Theory]
    [InlineData(null, 0x100000UL)]
    [InlineData(0x7fffffffffffffffUL, null)]
    [InlineData(ulong.MaxValue, 0x10UL)]
    public void SegmentPastEndOfFileIsRejected(ulong? fileOffset, ulong? fileSize)
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        LoadSpec text = writer.Loads[0];
        writer.Loads[0] = text with { FileOffset = fileOffset, FileSize = fileSize, MemorySize = Math.Max(text.MemorySize, fileSize ?? 0) };
        AssertRejected(writer.Build(), "runs past the end of the file");
    }

    [Fact]
    public void FileSizeLargerThanMemorySizeIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Loads[1] = writer.Loads[1] with { MemorySize = 0x800 };
        AssertRejected(writer.Build(), "larger than its memory size");
    }

    [Fact]
    public void OverlappingSegmentsAreRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Loads[1] = writer.Loads[1] with { PhysicalAddress = 0x1002000 };
        AssertRejected(writer.Build(), "loadable segments overlap");
    }

    [Fact]
    public void SegmentWrappingTheAddressSpaceIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Loads[1] = writer.Loads[1] with { PhysicalAddress = 0xffff_ffff_ffff_f000 };
        AssertRejected(writer.Build(), "wraps around");
    }

    [Fact]
    public void ImageWithoutLoadSegmentsIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Loads.Clear();
        AssertRejected(writer.Build(), "no loadable (PT_LOAD) segments");
    }

    [Theory]
    [InlineData(0x10000u, null)]
    [InlineData(null, 0x10000u)]
    [InlineData(uint.MaxValue, null)]
    [InlineData(null, uint.MaxValue)]
    public void NoteSizesPastTheSegmentAreRejected(uint? nameSize, uint? descriptorSize)
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Notes[^1] = writer.Notes[^1] with { NameSize = nameSize, DescriptorSize = descriptorSize };
        AssertRejected(writer.Build(), "runs past the end of its note segment");
    }

    [Fact]
    public void TruncatedNoteHeaderIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        byte[] image = writer.Build();
        int noteHeader = ElfImageWriter.ProgramHeaderOffset + (writer.Loads.Count * 56);
        ulong noteSize = BitConverter.ToUInt64(image, noteHeader + 32);
        AssertRejected(Patch(image, i => ElfImageWriter.Put64(i, noteHeader + 32, noteSize + 4)), "truncated ELF note header");
    }

    [Fact]
    public void NoteSegmentPastEndOfFileIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        byte[] image = writer.Build();
        int noteHeader = ElfImageWriter.ProgramHeaderOffset + (writer.Loads.Count * 56);
        AssertRejected(Patch(image, i => ElfImageWriter.Put64(i, noteHeader + 32, 0x1000000)), "note segment");
    }

    [Fact]
    public void ThreeByteNumericNoteIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike().WithNote(NoteSpec.Raw(XenElfNoteType.VirtBase, [0, 0, 0]));
        AssertRejected(writer.Build(), "VIRT_BASE at file offset");
        AssertRejected(writer.Build(), "3-byte value");
    }

    [Fact]
    public void OddSizedSupportedFeaturesNoteIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike().WithNote(NoteSpec.Raw(XenElfNoteType.SupportedFeatures, [1, 0, 0]));
        AssertRejected(writer.Build(), "whole number of 32-bit words");
    }

    [Fact]
    public void UnterminatedStringNoteIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike().WithNote(NoteSpec.Raw(XenElfNoteType.GuestOs, "linux"u8.ToArray()));
        AssertRejected(writer.Build(), "GUEST_OS at file offset");
        AssertRejected(writer.Build(), "without a terminating NUL");
    }

    [Fact]
    public void ImageWithoutNotesIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Notes.Clear();
        AssertRejected(writer.Build(), "no Xen ELF notes found");
    }

    [Fact]
    public void ImageWithOnlyForeignNotesIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        writer.Notes.Clear();
        writer.Notes.Add(new NoteSpec("GNU", 1, [0, 0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0, 32, 0, 0, 0]));
        AssertRejected(writer.Build(), "no Xen ELF notes found");
    }

    [Theory]
    [InlineData("xen-2.0", "XEN_VERSION note is 'xen-2.0'")]
    [InlineData("3.0", "XEN_VERSION note is '3.0'")]
    public void WrongXenVersionIsRejected(string version, string expected) =>
        AssertRejected(ElfImageWriter.LinuxLike().WithNote(NoteSpec.Text(XenElfNoteType.XenVersion, version)).Build(), expected);

    [Fact]
    public void MissingXenVersionIsRejected() =>
        AssertRejected(ElfImageWriter.LinuxLike().WithoutNote(XenElfNoteType.XenVersion).Build(), "XEN_VERSION note is missing");

    [Fact]
    public void NonLinuxImageForAnotherLoaderIsRejected()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike()
            .WithNote(NoteSpec.Text(XenElfNoteType.GuestOs, "Plan9"))
            .WithNote(NoteSpec.Text(XenElfNoteType.Loader, "special"));
        AssertRejected(writer.Build(), "generic loader or Linux can be loaded (LOADER note is 'special', GUEST_OS note is 'Plan9')");
    }

    [Fact]
    public void NonLinuxImageForGenericLoaderIsAccepted()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike().WithNote(NoteSpec.Text(XenElfNoteType.GuestOs, "NetBSD"));
        Assert.Equal("NetBSD", XenKernelImage.Parse(writer.Build()).Notes.GuestOs);
    }

    [Fact]
    public void UnknownRequiredFeatureIsRejected() =>
        AssertRejected(
            ElfImageWriter.LinuxLike().WithNote(NoteSpec.Text(XenElfNoteType.Features, "writable_page_tables|!frobnicate")).Build(),
            "requires unknown feature 'frobnicate'");

    [Theory]
    [InlineData(0xffffffff90000000UL)]
    [InlineData(0xffffffff80fff000UL)]
    [InlineData(ElfImageWriter.LinuxKernelEnd)]
    public void EntryOutsideKernelIsRejected(ulong entry) =>
        AssertRejected(
            ElfImageWriter.LinuxLike().WithNote(NoteSpec.U64(XenElfNoteType.Entry, entry)).Build(),
            $"kernel image: entry point 0x{entry:x} lies outside the kernel (0xffffffff81000000-0xffffffff81005000)");

    [Theory]
    [InlineData(0xffffffff90000000UL)]
    [InlineData(0xffffffff80fff000UL)]
    [InlineData(ElfImageWriter.LinuxKernelEnd)]
    [InlineData(ulong.MaxValue - 0xfff)]
    public void HypercallPageOutsideKernelIsRejected(ulong page) =>
        AssertRejected(
            ElfImageWriter.LinuxLike().WithNote(NoteSpec.U64(XenElfNoteType.HypercallPage, page)).Build(),
            $"hypercall page 0x{page:x} lies outside the kernel");

    [Fact]
    public void HypercallPageCrossingKernelEndIsRejected() =>
        AssertRejected(
            ElfImageWriter.LinuxLike().WithNote(NoteSpec.U64(XenElfNoteType.HypercallPage, ElfImageWriter.LinuxKernelEnd - 0x800)).Build(),
            "lies outside the kernel");

    [Fact]
    public void MisalignedHypercallPageIsRejected() =>
        AssertRejected(
            ElfImageWriter.LinuxLike().WithNote(NoteSpec.U64(XenElfNoteType.HypercallPage, ElfImageWriter.LinuxHypercallPage + 0x10)).Build(),
            "is not aligned to a 4 KiB page");

    [Fact]
    public void PaddrOffsetWithoutVirtBaseIsRejected() =>
        AssertRejected(
            ElfImageWriter.LinuxLike().WithoutNote(XenElfNoteType.VirtBase).Build(),
            "PADDR_OFFSET note is set but VIRT_BASE is not");

    [Fact]
    public void VirtBaseAboveKernelStartIsRejected() =>
        AssertRejected(
            ElfImageWriter.LinuxLike()
                .WithNote(NoteSpec.U64(XenElfNoteType.VirtBase, ElfImageWriter.LinuxVirtBase + 0x2000000))
                .WithNote(NoteSpec.U64(XenElfNoteType.PaddrOffset, 0x2000000))
                .Build(),
            "VIRT_BASE 0xffffffff82000000 lies above the start of the kernel");

    [Fact]
    public void InvertedKernelRangeIsRejected()
    {
        var writer = new ElfImageWriter();
        writer.Loads.Add(new LoadSpec(0, 0, ElfImageWriter.Filled(0x10, 1), 0x200000, ElfImageWriter.PfR | ElfImageWriter.PfX));
        writer.Notes.Add(NoteSpec.Text(XenElfNoteType.XenVersion, "xen-3.0"));
        writer.Notes.Add(NoteSpec.Text(XenElfNoteType.GuestOs, "linux"));
        writer.Notes.Add(NoteSpec.U64(XenElfNoteType.VirtBase, 0xfffffffffff00000));
        AssertRejected(writer.Build(), "kernel virtual range is inverted");
    }

    [Fact]
    public void InitP2mInsideKernelIsRejected() =>
        AssertRejected(
            ElfImageWriter.LinuxLike().WithNote(NoteSpec.U64(XenElfNoteType.InitP2m, ElfImageWriter.LinuxKernelStart + 0x1000)).Build(),
            "INIT_P2M address");

    [Fact]
    public void EveryTruncationFailsCleanly()
    {
        byte[] image = ElfImageWriter.LinuxLike().Build();
        for (int length = 0; length < image.Length; length++)
        {
            // Either the image still happens to be whole enough, or the parser says why not.
            try
            {
                XenKernelImage.Parse(image.AsMemory(0, length));
            }
            catch (KernelImageException)
            {
            }
        }
    }

    [Fact]
    public void RandomCorruptionFailsCleanly()
    {
        ElfImageWriter writer = ElfImageWriter.LinuxLike();
        byte[] original = writer.Build();
        int headerBytes = writer.NoteOffset() + 0x200; // headers and notes, where corruption matters
        var random = new Random(1234);
        for (int iteration = 0; iteration < 5000; iteration++)
        {
            byte[] image = (byte[])original.Clone();
            int flips = random.Next(1, 6);
            for (int f = 0; f < flips; f++)
            {
                image[random.Next(Math.Min(headerBytes, image.Length))] = (byte)random.Next(256);
            }

            try
            {
                XenKernelImage.Parse(image);
            }
            catch (KernelImageException)
            {
            }
        }
    }

    private static byte[] Patch(byte[] image, Action<byte[]> patch)
    {
        patch(image);
        return image;
    }

    private static void AssertRejected(byte[] image, string expected)
    {
        var error = Assert.Throws<KernelImageException>(() => XenKernelImage.Parse(image));
        Assert.Contains(expected, error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }
}
