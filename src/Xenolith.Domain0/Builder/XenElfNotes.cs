using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Xenolith.Domain0.Builder;

/// <summary>
/// The Xen ELF notes of a PV kernel, decoded as Xen's libelf (elf_xen_parse_note) decodes them.
/// </summary>
/// <remarks>
/// A note that appears more than once takes the value of the last occurrence, as in libelf;
/// feature masks accumulate over every FEATURES and SUPPORTED_FEATURES note, also as in libelf.
/// Note types libelf does not interpret are kept only in <see cref="All"/>.
/// </remarks>
public sealed class XenElfNotes
{
    // ELF_MAX_TOTAL_NOTE_COUNT in libelf: bounds the work an image can make us do.
    internal const int MaxNoteCount = 65536;

    private readonly List<XenElfNote> _all = [];
    private readonly List<string> _unknownFeatures = [];

    internal XenElfNotes()
    {
    }

    /// <summary>Every Xen note in image order, including types that are not interpreted.</summary>
    public IReadOnlyList<XenElfNote> All => _all;

    /// <summary>Whether the image carries no Xen notes at all.</summary>
    public bool IsEmpty => _all.Count == 0;

    /// <summary>ENTRY: virtual entry point.</summary>
    public ulong? Entry { get; private set; }

    /// <summary>HYPERCALL_PAGE: virtual address of the hypercall page.</summary>
    public ulong? HypercallPage { get; private set; }

    /// <summary>VIRT_BASE: virtual base of the kernel mapping.</summary>
    public ulong? VirtBase { get; private set; }

    /// <summary>PADDR_OFFSET: offset between ELF physical addresses and VIRT_BASE.</summary>
    public ulong? PaddrOffset { get; private set; }

    /// <summary>HV_START_LOW (only meaningful for 32-bit PAE guests).</summary>
    public ulong? HvStartLow { get; private set; }

    /// <summary>INIT_P2M: virtual address at which to map the initial P2M table.</summary>
    public ulong? InitP2m { get; private set; }

    /// <summary>MOD_START_PFN: non-zero when the initrd is passed as an unmapped PFN.</summary>
    public ulong? ModStartPfn { get; private set; }

    /// <summary>SUSPEND_CANCEL.</summary>
    public ulong? SuspendCancel { get; private set; }

    /// <summary>PHYS32_ENTRY (PVH only; recorded, not used for PV).</summary>
    public ulong? Phys32Entry { get; private set; }

    /// <summary>XEN_VERSION, e.g. "xen-3.0".</summary>
    public string? XenVersion { get; private set; }

    /// <summary>GUEST_OS, e.g. "linux".</summary>
    public string? GuestOs { get; private set; }

    /// <summary>GUEST_VERSION.</summary>
    public string? GuestVersion { get; private set; }

    /// <summary>LOADER, e.g. "generic".</summary>
    public string? Loader { get; private set; }

    /// <summary>PAE_MODE as written (not validated: it only matters to 32-bit guests).</summary>
    public string? PaeMode { get; private set; }

    /// <summary>BSD_SYMTAB as written. Symbol table loading is not implemented; the value is recorded only.</summary>
    public string? BsdSymtab { get; private set; }

    /// <summary>The last FEATURES string as written.</summary>
    public string? Features { get; private set; }

    /// <summary>Features the kernel supports: every FEATURES name plus every SUPPORTED_FEATURES mask.</summary>
    public uint SupportedFeatures { get; private set; }

    /// <summary>Features the kernel requires: the '!'-prefixed FEATURES names.</summary>
    public uint RequiredFeatures { get; private set; }

    /// <summary>
    /// FEATURES names without a '!' that libelf does not know. Like libelf we ignore them;
    /// they are listed so a caller can report them.
    /// </summary>
    public IReadOnlyList<string> UnknownFeatures => _unknownFeatures;

    /// <summary>Decodes one Xen note and records it. Throws <see cref="KernelImageException"/> on a malformed descriptor.</summary>
    internal void Add(XenElfNote note)
    {
        if (_all.Count >= MaxNoteCount)
        {
            throw new KernelImageException($"kernel image: more than {MaxNoteCount} ELF notes");
        }

        _all.Add(note);
        ReadOnlySpan<byte> desc = note.Descriptor.Span;
        switch (note.Type)
        {
            case XenElfNoteType.Entry: Entry = Numeric(note, desc); break;
            case XenElfNoteType.HypercallPage: HypercallPage = Numeric(note, desc); break;
            case XenElfNoteType.VirtBase: VirtBase = Numeric(note, desc); break;
            case XenElfNoteType.PaddrOffset: PaddrOffset = Numeric(note, desc); break;
            case XenElfNoteType.HvStartLow: HvStartLow = Numeric(note, desc); break;
            case XenElfNoteType.InitP2m: InitP2m = Numeric(note, desc); break;
            case XenElfNoteType.ModStartPfn: ModStartPfn = Numeric(note, desc); break;
            case XenElfNoteType.SuspendCancel: SuspendCancel = Numeric(note, desc); break;
            case XenElfNoteType.Phys32Entry: Phys32Entry = Numeric(note, desc); break;
            case XenElfNoteType.XenVersion: XenVersion = String(note, desc); break;
            case XenElfNoteType.GuestOs: GuestOs = String(note, desc); break;
            case XenElfNoteType.GuestVersion: GuestVersion = String(note, desc); break;
            case XenElfNoteType.Loader: Loader = String(note, desc); break;
            case XenElfNoteType.PaeMode: PaeMode = String(note, desc); break;
            case XenElfNoteType.BsdSymtab: BsdSymtab = String(note, desc); break;
            case XenElfNoteType.Features:
                Features = String(note, desc);
                ParseFeatures(Features);
                break;
            case XenElfNoteType.SupportedFeatures:
                SupportedFeatures |= FeatureWords(note, desc);
                break;
            default:
                // INFO, L1_MFN_VALID and unknown types: libelf ignores them, so do we.
                break;
        }
    }

    private static ulong Numeric(XenElfNote note, ReadOnlySpan<byte> desc) => desc.Length switch
    {
        // libelf reads 1, 2, 4 or 8 bytes; any other size cannot be a number.
        1 => desc[0],
        2 => BinaryPrimitives.ReadUInt16LittleEndian(desc),
        4 => BinaryPrimitives.ReadUInt32LittleEndian(desc),
        8 => BinaryPrimitives.ReadUInt64LittleEndian(desc),
        _ => throw new KernelImageException(
            $"kernel image: Xen ELF note {Describe(note.Type)} at file offset 0x{note.FileOffset:x} has a {desc.Length}-byte value; a number must be 1, 2, 4 or 8 bytes"),
    };

    private static uint FeatureWords(XenElfNote note, ReadOnlySpan<byte> desc)
    {
        // An array of 32-bit words, one per submap; only XENFEAT_NR_SUBMAPS words mean anything.
        if (desc.Length == 0 || desc.Length % 4 != 0)
        {
            throw new KernelImageException(
                $"kernel image: Xen ELF note {Describe(note.Type)} at file offset 0x{note.FileOffset:x} is {desc.Length} bytes; it must be a whole number of 32-bit words");
        }

        return BinaryPrimitives.ReadUInt32LittleEndian(desc);
    }

    private static string String(XenElfNote note, ReadOnlySpan<byte> desc)
    {
        int nul = desc.IndexOf((byte)0);
        if (nul < 0)
        {
            throw new KernelImageException(
                $"kernel image: Xen ELF note {Describe(note.Type)} at file offset 0x{note.FileOffset:x} is a string without a terminating NUL");
        }

        // Latin-1 maps every byte to one char, so odd bytes survive into messages instead of failing decoding.
        return Encoding.Latin1.GetString(desc[..nul]);
    }

    private void ParseFeatures(string features)
    {
        foreach (string entry in features.Split('|'))
        {
            bool required = entry.StartsWith('!');
            string name = required ? entry[1..] : entry;
            if (name.Length <= XenFeatures.MaxFeatureNameLength && XenFeatures.TryGetElfFeatureBit(name, out int bit))
            {
                uint mask = XenFeatures.Mask(bit);
                SupportedFeatures |= mask;
                if (required)
                {
                    RequiredFeatures |= mask;
                }
            }
            else if (required)
            {
                // libelf fails the image here: the kernel cannot run without a feature nobody knows.
                throw new KernelImageException(
                    $"kernel image: FEATURES note requires unknown feature '{Printable(name)}'");
            }
            else if (name.Length > 0)
            {
                _unknownFeatures.Add(name);
            }
        }
    }

    /// <summary>The XEN_ELFNOTE_* suffix Xen uses for a note type, for messages.</summary>
    internal static string Describe(XenElfNoteType type) => type switch
    {
        XenElfNoteType.Info => "INFO",
        XenElfNoteType.Entry => "ENTRY",
        XenElfNoteType.HypercallPage => "HYPERCALL_PAGE",
        XenElfNoteType.VirtBase => "VIRT_BASE",
        XenElfNoteType.PaddrOffset => "PADDR_OFFSET",
        XenElfNoteType.XenVersion => "XEN_VERSION",
        XenElfNoteType.GuestOs => "GUEST_OS",
        XenElfNoteType.GuestVersion => "GUEST_VERSION",
        XenElfNoteType.Loader => "LOADER",
        XenElfNoteType.PaeMode => "PAE_MODE",
        XenElfNoteType.Features => "FEATURES",
        XenElfNoteType.BsdSymtab => "BSD_SYMTAB",
        XenElfNoteType.HvStartLow => "HV_START_LOW",
        XenElfNoteType.L1MfnValid => "L1_MFN_VALID",
        XenElfNoteType.SuspendCancel => "SUSPEND_CANCEL",
        XenElfNoteType.InitP2m => "INIT_P2M",
        XenElfNoteType.ModStartPfn => "MOD_START_PFN",
        XenElfNoteType.SupportedFeatures => "SUPPORTED_FEATURES",
        XenElfNoteType.Phys32Entry => "PHYS32_ENTRY",
        _ => string.Create(CultureInfo.InvariantCulture, $"type {(uint)type}"),
    };

    /// <summary>Makes guest-supplied text safe to put in a one-line message.</summary>
    internal static string Printable(string text)
    {
        const int Limit = 80;
        var builder = new StringBuilder(Math.Min(text.Length, Limit));
        foreach (char c in text)
        {
            if (builder.Length >= Limit)
            {
                builder.Append("...");
                break;
            }

            builder.Append(c is >= ' ' and <= '~' ? c : '?');
        }

        return builder.ToString();
    }
}
